package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"workqueue/internal/testutil"
)

// killMarked kills, when t ends, every process marked with mark still
// running, so that a failing test leaves no `sleep 300` behind.
func killMarked(t *testing.T, mark string) {
	t.Cleanup(func() {
		for _, p := range markedProcesses(mark, 0) {
			syscall.Kill(p.PID, syscall.SIGKILL)
		}
	})
}

// waitMarked waits until n processes marked with mark, other than the
// server, are running, and returns them.
func waitMarked(t *testing.T, mark string, server, n int) []testutil.Process {
	t.Helper()
	var ps []testutil.Process
	if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool { ps = markedProcesses(mark, server); return len(ps) == n }) {
		t.Fatalf("the server's commands: %+v, want %d processes", ps, n)
	}
	return ps
}

// TestBinaryExitKillsCommandGroups stops a server whose one job ignores
// SIGTERM in a shell that waits for a `sleep 300` of its group, so that no
// drain can complete: once -shutdown-timeout gives up, or a second signal
// cuts the drain short, the server exits 1 at once, and no process of the
// job is left running when it has exited (the SIGKILL due 5 s after the
// group's SIGTERM is not left to a process that is gone). With -journal,
// the job then runs again at the next start: alone.
func TestBinaryExitKillsCommandGroups(t *testing.T) {
	const script = `trap "" TERM; sleep 300 & wait`
	for _, tt := range []struct {
		name    string
		args    []string
		stop    func(t *testing.T, p *proc)
		within  time.Duration // from the first signal to the exit
		journal bool
	}{
		{"drain gives up", []string{"-shutdown-timeout", "1s"}, func(t *testing.T, p *proc) {
			p.signal(t, syscall.SIGTERM)
		}, 4 * time.Second, true},
		{"second signal", []string{"-shutdown-timeout", "30s"}, func(t *testing.T, p *proc) {
			p.signal(t, syscall.SIGTERM)
			p.waitLog(t, "msg=draining")
			p.signal(t, syscall.SIGTERM)
		}, 4 * time.Second, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mark := markCommands(t)
			killMarked(t, mark)
			dir := t.TempDir()
			args := tt.args
			if tt.journal {
				args = append(args, "-journal", dir)
			}
			p := startBinary(t, append(args, "--", "/bin/sh", "-c", script)...)
			server := p.cmd.Process.Pid
			id := p.postJob(t, "stubborn")
			ps := waitMarked(t, mark, server, 2) // sh and its sleep
			start := time.Now()
			tt.stop(t, p)
			if code := p.wait(t, 10*time.Second); code != 1 {
				t.Fatalf("exit status %d, want 1\nstderr:\n%s", code, p.stderr)
			}
			if took := time.Since(start); took > tt.within {
				t.Errorf("exited %v after the signal, want within %v", took, tt.within)
			}
			if left := markedProcesses(mark, server); len(left) != 0 {
				t.Errorf("processes of the job left when the server had exited: %+v (of %+v), want none\nstderr:\n%s", left, ps, p.stderr)
			}
			if !tt.journal {
				return
			}
			p = startBinary(t, "-journal", dir, "--", "/bin/sh", "-c", `echo "attempt $WORKQUEUE_ATTEMPT"`)
			if j := waitFinal(t, p, id); j.State != "done" || j.Attempts != 2 || j.Output == nil || *j.Output != "attempt 2\n" {
				t.Errorf("after the restart: %+v, want done after 2 attempts", j)
			}
		})
	}
}

// TestBinaryLeftoversDieWithAttempt drains a server whose running job's
// command leaves a `sleep 300` in its group and exits: the drain completes
// (exit 0) as the command exits, and the sleep has died with its attempt,
// which is the job's: its processes outlive neither the attempt nor the
// server. A job done before the drain left one too, gone as soon as it is done.
func TestBinaryLeftoversDieWithAttempt(t *testing.T) {
	mark := markCommands(t)
	killMarked(t, mark)
	const script = `sleep 300 & [ "$WORKQUEUE_NAME" = quick ] || sleep 0.5; echo started`
	p := startBinary(t, "-n", "1", "--", "/bin/sh", "-c", script)
	server := p.cmd.Process.Pid
	id := p.postJob(t, "quick")
	if j := waitFinal(t, p, id); j.State != "done" || j.Output == nil || *j.Output != "started\n" {
		t.Fatalf("job %+v, want done with output %q", j, "started\n")
	}
	var left []testutil.Process
	if !testutil.PollUntil(time.Now().Add(2*time.Second), func() bool { left = markedProcesses(mark, server); return len(left) == 0 }) {
		t.Errorf("processes of a job done: %+v, want none", left)
	}
	p.postJob(t, "slow")
	waitMarked(t, mark, server, 3) // sh, sleep 300, sleep 0.5
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d, want 0: the job ran to its end\nstderr:\n%s", code, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "msg=drained done=2") {
		t.Errorf("stderr lacks the drain of 2 jobs done:\n%s", p.stderr)
	}
	if left := markedProcesses(mark, server); len(left) != 0 {
		t.Errorf("processes of the jobs left when the server had exited: %+v, want none", left)
	}
}
