package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"workqueue/internal/testutil"
)

// grandchildScript, run as `sh -c grandchildScript DIR`, starts a `sleep 60`
// and records the shell's pid and the sleep's in DIR/<job id>, then waits
// for the sleep: a command whose own child is what Pdeathsig cannot reach.
const grandchildScript = `sleep 60 & echo "$$ $!" >"$0/$WORKQUEUE_JOB_ID.tmp" && mv "$0/$WORKQUEUE_JOB_ID.tmp" "$0/$WORKQUEUE_JOB_ID"; wait`

// jobPIDs waits until the command of job id has recorded its shell's pid
// and its sleep's in dir, and returns them.
func jobPIDs(t *testing.T, dir, id string) []int {
	t.Helper()
	var pids []int
	if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool {
		b, err := os.ReadFile(filepath.Join(dir, id))
		pids = pids[:0]
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
		return err == nil && len(pids) == 2
	}) {
		t.Fatalf("job %s recorded no shell and sleep within 10 s", id)
	}
	return pids
}

// exited reports whether pid has exited: gone, or a zombie.
func exited(pid int) bool {
	p, ok := testutil.ReadProc(pid)
	return !ok || p.State == "Z" || p.State == "X"
}

// requireExited fails t unless every one of pids has exited by deadline.
func requireExited(t *testing.T, what string, pids []int, deadline time.Time) {
	t.Helper()
	var left []int
	if !testutil.PollUntil(deadline, func() bool {
		left = left[:0]
		for _, pid := range pids {
			if !exited(pid) {
				left = append(left, pid)
			}
		}
		return len(left) == 0
	}) {
		t.Errorf("%s: processes %v still running, want none of %v", what, left, pids)
	}
}

// supervisorOf returns the pid of the server's supervisor: its child whose
// argv is the hidden mode's.
func supervisorOf(t *testing.T, server int) int {
	t.Helper()
	for _, c := range children(server) {
		if isSupervisor(c.PID) {
			return c.PID
		}
	}
	t.Fatalf("the server %d has no supervisor among its children %+v", server, children(server))
	return 0
}

// isSupervisor reports whether pid's argv is the supervisor's.
func isSupervisor(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && string(b) == "workqueue-supervisor\x00"
}

// TestBinaryKill9KillsGrandchildren kills the real binary with SIGKILL while
// its commands run `sh -c 'sleep 60 & ...; wait'`: every shell and every
// sleep, the grandchildren Pdeathsig does not reach, are gone soon after,
// as is the supervisor that killed them; with one command and with four at
// once; and after a cancel, which kills its own job's group as before (the
// supervisor told to forget it), the job still running dies with the server.
func TestBinaryKill9KillsGrandchildren(t *testing.T) {
	for _, tt := range []struct {
		name   string
		jobs   int
		cancel bool // cancel the first job before the kill
	}{
		{"one command", 1, false},
		{"four at once", 4, false},
		{"after a cancel", 2, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mark := markCommands(t)
			killMarked(t, mark)
			dir := t.TempDir()
			p := startBinary(t, "-n", strconv.Itoa(tt.jobs), "--", "/bin/sh", "-c", grandchildScript, dir)
			server := p.cmd.Process.Pid
			sup := supervisorOf(t, server)
			var ids []string
			for i := range tt.jobs {
				ids = append(ids, p.postJob(t, "job"+strconv.Itoa(i)))
			}
			var pids []int
			for _, id := range ids {
				pids = append(pids, jobPIDs(t, dir, id)...)
			}
			if tt.cancel {
				if code, body := p.del(t, ids[0]); code != http.StatusOK {
					t.Fatalf("DELETE /work/%s = %d %s, want 200", ids[0], code, body)
				}
				if j := waitFinal(t, p, ids[0]); j.State != "canceled" {
					t.Fatalf("job %s after DELETE: %+v, want canceled", ids[0], j)
				}
				requireExited(t, "the canceled job", pids[:2], time.Now().Add(10*time.Second))
				pids = pids[2:]
			}
			p.signal(t, syscall.SIGKILL)
			p.wait(t, 10*time.Second)
			requireExited(t, "after kill -9 of the server", pids, time.Now().Add(10*time.Second))
			requireExited(t, "the supervisor", []int{sup}, time.Now().Add(10*time.Second))
			if left := markedProcesses(mark, server); len(left) != 0 {
				t.Errorf("processes of the jobs left after kill -9: %+v, want none", left)
			}
		})
	}
}

// TestBinarySupervisorEndsWithDrain drains a server whose job left a sleep
// in its group and is done: it exits 0, and its supervisor has exited and
// been reaped by then; the server's own children were its commands and the
// supervisor, nothing else.
func TestBinarySupervisorEndsWithDrain(t *testing.T) {
	mark := markCommands(t)
	killMarked(t, mark)
	p := startBinary(t, "--", "/bin/sh", "-c", "sleep 60 & echo started")
	server := p.cmd.Process.Pid
	sup := supervisorOf(t, server)
	if j := waitFinal(t, p, p.postJob(t, "quick")); j.State != "done" || j.Output == nil || *j.Output != "started\n" {
		t.Fatalf("job: %+v, want done with output %q", j, "started\n")
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d, want 0\nstderr:\n%s", code, p.stderr)
	}
	if _, ok := testutil.ReadProc(sup); ok && isSupervisor(sup) {
		t.Errorf("the supervisor %d is still there when the server has exited", sup)
	}
	if strings.Contains(p.stderr.String(), "unsupervised") {
		t.Errorf("the server warned of no supervisor:\n%s", p.stderr)
	}
	if left := markedProcesses(mark, server); len(left) != 0 {
		t.Errorf("processes of the job left after the drain: %+v, want none", left)
	}
}
