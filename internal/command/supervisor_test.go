package command

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"workqueue/internal/testutil"
)

// TestReadGroups checks the supervisor's reading of its registrations: "+"
// adds a group, "-" forgets it, anything else is skipped, and end of file
// ends the reading with what is left.
func TestReadGroups(t *testing.T) {
	in := "+5\n+7\n-5\n+9\nnonsense\n+\n-\n+x1\n+1\n+0\n?9\n+" + strings.Repeat("9", 70<<10) + "\n+11\n-9\n+12"
	got := readGroups(bufio.NewReaderSize(strings.NewReader(in), 64<<10))
	want := map[int]struct{}{7: {}, 11: {}} // +12 has no newline: the server never wrote it whole
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readGroups = %v, want %v", got, want)
	}
}

// startGroup starts `sh -c 'sleep 30 & echo $! >FILE; wait'` in a process
// group of its own and returns it with the sleep's pid, read from FILE.
func startGroup(t *testing.T) (sh *exec.Cmd, sleep int) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "sleep.pid")
	sh = exec.Command("/bin/sh", "-c", `sleep 30 & echo $! >"$0.tmp" && mv "$0.tmp" "$0"; wait`, f)
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		killGroup(sh.Process.Pid, syscall.SIGKILL)
		sh.Wait()
	})
	if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool {
		b, err := os.ReadFile(f)
		sleep, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}) {
		t.Fatal("no sleep started within 10 s")
	}
	return sh, sleep
}

// dead reports whether pid has exited: gone, or a zombie.
func dead(pid int) bool {
	p, ok := testutil.ReadProc(pid)
	return !ok || p.State == "Z" || p.State == "X"
}

// TestSupervisorKillsOnEOF starts a supervisor (this test binary, in the
// hidden mode) and tells it of three groups, then to forget the third; then
// closes its pipe as the kernel does when the server dies. It SIGKILLs the
// two groups it still knows, a shell and its sleep each, and exits; the
// third group runs on.
func TestSupervisorKillsOnEOF(t *testing.T) {
	var tracked []int
	s, err := startSupervisor(func(err error) { t.Error(err) }, func(pid int) { tracked = append(tracked, pid) })
	if err != nil {
		t.Fatal(err)
	}
	a, aSleep := startGroup(t)
	b, bSleep := startGroup(t)
	c, cSleep := startGroup(t)
	s.add(a.Process.Pid)
	s.add(b.Process.Pid)
	s.add(c.Process.Pid)
	s.forget(c.Process.Pid)
	s.closeLocked()
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the supervisor has not exited 10 s after end of file")
	}
	if want := []int{s.proc.Pid, 0}; !reflect.DeepEqual(tracked, want) {
		t.Errorf("tracked %v, want %v", tracked, want)
	}
	for _, sh := range []*exec.Cmd{a, b} {
		if err := sh.Wait(); err == nil || err.Error() != "signal: killed" {
			t.Errorf("sh %d: %v, want signal: killed", sh.Process.Pid, err)
		}
	}
	for _, pid := range []int{aSleep, bSleep} {
		if !testutil.PollUntil(time.Now().Add(5*time.Second), func() bool { return dead(pid) }) {
			t.Errorf("sleep %d of a known group is still running", pid)
		}
	}
	if dead(c.Process.Pid) || dead(cSleep) {
		t.Errorf("the forgotten group was killed: sh dead %v, sleep dead %v", dead(c.Process.Pid), dead(cSleep))
	}
}

// TestSupervisorLost kills the supervisor: the next registration fails with
// EPIPE, warn is told, and the supervisor is marked lost.
func TestSupervisorLost(t *testing.T) {
	warned := make(chan error, 2)
	s, err := startSupervisor(func(err error) { warned <- err }, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	s.proc.Kill()
	<-s.exited
	s.add(12345)
	s.add(12346)
	select {
	case err := <-warned:
		if !errors.Is(err, syscall.EPIPE) {
			t.Errorf("warned %v, want EPIPE", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no warning 10 s after a write to a lost supervisor")
	}
	if !s.lost.Load() {
		t.Error("not lost after a failed write")
	}
	s.closeLocked()
}

// TestSupervisorStopped stops the supervisor (SIGSTOP) and registers
// groups until its pipe is full: the registration that finds no room within
// supervisorStall gives the supervisor up, killed, with a warning.
func TestSupervisorStopped(t *testing.T) {
	warned := make(chan error, 1)
	s, err := startSupervisor(func(err error) { warned <- err }, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	pgid := 1 << 22 // above any pid_max: never a real group
	for i := 0; !s.lost.Load(); i++ {
		if i > 1<<20 {
			t.Fatal("a stopped supervisor's pipe took 1 Mi lines")
		}
		s.add(pgid)
	}
	select {
	case err := <-warned:
		if !errors.Is(err, syscall.EAGAIN) {
			t.Errorf("warned %v, want EAGAIN", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no warning 10 s after the supervisor was lost")
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the lost supervisor is not killed 10 s later")
	}
	s.closeLocked()
}

// BenchmarkSupervisorSend measures what the supervisor costs the server per
// attempt: the two lines, "+PGID" as it starts and "-PGID" as its group is
// forgotten, written to a real supervisor (which reads them paced).
func BenchmarkSupervisorSend(b *testing.B) {
	s, err := startSupervisor(func(err error) { b.Error(err) }, func(int) {})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { s.closeLocked(); s.await(time.Second) }()
	pgid := 1 << 22 // above any pid_max: never a real group
	for b.Loop() {
		s.add(pgid)
		s.forget(pgid)
	}
	if s.lost.Load() {
		b.Fatal("the supervisor was lost")
	}
}
