package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"workqueue/internal/testutil"
)

// startPID1 starts the binary as PID 1 of a PID namespace of its own, with
// a /proc of that namespace (unshare -fp --mount-proc), as in a container
// without an init, and returns it with the binary's pid as seen from here.
// p.cmd is unshare, which exits with the binary's status and, killed, kills
// the namespace. It skips t where unshare is missing or not permitted.
func startPID1(t *testing.T, args ...string) (p *proc, server int) {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1) (util-linux) to make a PID namespace:", err)
	}
	if out, err := exec.Command("unshare", "-fp", "--mount-proc", "true").CombinedOutput(); err != nil {
		t.Skipf("unshare -fp --mount-proc is not permitted here (it needs CAP_SYS_ADMIN): %v: %s", err, out)
	}
	p = startCmd(t, exec.Command("unshare", append([]string{"-fp", "--mount-proc", "--kill-child", binary, "-http", "127.0.0.1:0"}, args...)...))
	p.url = waitListening(t, p.stderr, p.exited)
	for _, c := range children(p.cmd.Process.Pid) {
		server = c.PID
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(server) + "/status")
	if nspid := nsPID(string(status)); err != nil || nspid != "1" {
		t.Fatalf("the server %d is pid %q in its namespace, want 1 (%v)", server, nspid, err)
	}
	return p, server
}

// nsPID returns the last pid of the NSpid line of /proc/PID/status: the
// process's pid in its own PID namespace.
func nsPID(status string) string {
	for line := range strings.Lines(status) {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			return f[len(f)-1]
		}
	}
	return ""
}

// children returns the children of pid, zombies included.
func children(pid int) []testutil.Process {
	ents, _ := os.ReadDir("/proc")
	var cs []testutil.Process
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if c, ok := testutil.ReadProc(n); ok && c.PPID == pid {
			cs = append(cs, c)
		}
	}
	return cs
}

// sessionID returns the session id of process pid (field 6 of its stat).
func sessionID(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return strconv.Atoi(f[3])
}

// commandChildren returns the children of pid, zombies included, but its
// supervisor.
func commandChildren(pid int) []testutil.Process {
	var cs []testutil.Process
	for _, c := range children(pid) {
		if !isSupervisor(c.PID) {
			cs = append(cs, c)
		}
	}
	return cs
}

// zombies returns the children of pid that are zombies.
func zombies(pid int) []testutil.Process {
	var zs []testutil.Process
	for _, c := range children(pid) {
		if c.State == "Z" {
			zs = append(zs, c)
		}
	}
	return zs
}

// TestBinaryReapsAsPID1 runs the binary as PID 1, where every process its
// commands orphan becomes its child: 10 jobs that leave two sleeps each in
// their group (killed as the attempt ends), one that leaves a sleep out of
// its group (setsid, left to exit on its own), and one that fails with exit
// status 3 leaving a sleep. None of the 21 orphans stays a zombie, and no
// command's exit status was stolen by the reaping: every job ends as its
// command did.
func TestBinaryReapsAsPID1(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid(1):", err)
	}
	// "away" waits until its sleep has left the group, lest the group's
	// SIGKILL at the attempt's end catch it before its setsid.
	away := filepath.Join(t.TempDir(), "away.pid")
	script := `case $WORKQUEUE_NAME in
fail) sleep 0.1 & exit 3;;
away) setsid sh -c 'echo $$ >"$0"; exec sleep 2' '` + away + `' >/dev/null 2>&1 &
	while [ ! -s '` + away + `' ]; do sleep 0.01; done; echo started;;
*) sleep 0.2 & sleep 0.3 & echo started;;
esac`
	p, server := startPID1(t, "-n", "4", "--", "/bin/sh", "-c", script)
	names := []string{"fail", "away"}
	for i := range 10 {
		names = append(names, fmt.Sprintf("job%d", i))
	}
	ids := map[string]string{}
	for _, name := range names {
		ids[name] = p.postJob(t, name)
	}
	for _, name := range names {
		j := waitFinal(t, p, ids[name])
		switch {
		case name == "fail" && (j.State != "failed" || j.Error != "exit status 3" || j.Attempts != 1):
			t.Errorf("job %s: %+v, want failed with exit status 3", name, j)
		case name != "fail" && (j.State != "done" || j.Output == nil || *j.Output != "started\n"):
			t.Errorf("job %s: %+v, want done with output %q", name, j, "started\n")
		}
	}
	// The setsid sleep, orphaned, is the server's child now (its pid in the
	// namespace, written to away, is not the one seen from here: find it by
	// its session, which it leads).
	var sleep testutil.Process
	for _, c := range children(server) {
		if sid, _ := sessionID(c.PID); sid == c.PID {
			sleep = c
		}
	}
	if sleep.PID == 0 || sleep.State == "Z" {
		t.Errorf("the setsid sleep: %+v, want it running as the server's child; children: %+v", sleep, children(server))
	}
	// It exits 2 s after it started; the others died with their attempts.
	// Then the server has no child left but its supervisor, not even a zombie.
	var cs, zs []testutil.Process
	if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool {
		cs, zs = commandChildren(server), zombies(server)
		return len(cs) == 0
	}) {
		t.Errorf("the server's children: %+v, want none; of them zombies: %d", cs, len(zs))
	}
	if err := syscall.Kill(server, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d, want 0\nstderr:\n%s", code, p.stderr)
	}
}
