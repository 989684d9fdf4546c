package command

import (
	"context"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"workqueue/internal/testutil"
)

// TestKillAll checks that KillAll SIGKILLs the whole group of a running
// attempt that ignores SIGTERM, at once rather than after the kill delay,
// and that no Run starts anything after it.
func TestKillAll(t *testing.T) {
	c := shCommand(t, "trap '' TERM; sleep 30 & wait", 0)
	c.killWait = time.Minute
	id := jobID(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Run(ctx, Job{ID: id, Name: "x", Attempt: 1})
		done <- err
	}()
	var ps []testutil.Process
	if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool { ps = jobProcesses(id); return len(ps) == 2 }) {
		t.Fatalf("job's processes: %+v, want sh and sleep", ps)
	}
	cancel() // SIGTERM, ignored; the SIGKILL would come a minute later
	start := time.Now()
	if n := c.KillAll(); n != 1 {
		t.Errorf("KillAll = %d, want 1 group signaled", n)
	}
	select {
	case err := <-done:
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Run returned %v after KillAll, want at once", took)
		}
		if err != context.Canceled {
			t.Errorf("Run = %v, want %v", err, context.Canceled)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10 s after KillAll")
	}
	requireGone(t, id, time.Now().Add(time.Second))
	if _, _, err := c.Run(t.Context(), Job{ID: id, Name: "x", Attempt: 2}); fmt.Sprint(err) != "cannot start: /bin/sh: the server is exiting" {
		t.Errorf("Run after KillAll = %v, want it refused", err)
	}
	// The sleep, orphaned to init (no Supervise here), leaves the registry
	// once init has reaped it.
	if !testutil.PollUntil(time.Now().Add(5*time.Second), func() bool { return c.groups.live() == 0 }) {
		t.Errorf("%d groups still registered, want none", c.groups.live())
	}
}

// TestKillAllLeaderGone checks that KillAll kills a group whose leader has
// exited but whose other members have not: the group, not the leader, is
// what it kills. The group is started as Run starts one, and left
// registered as a Run that has not yet got back from Wait leaves it.
func TestKillAllLeaderGone(t *testing.T) {
	g := newGroups()
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 & echo $!")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.start(cmd); err != nil {
		t.Fatal(err)
	}
	var sleep int
	fmt.Fscan(out, &sleep)
	cmd.Wait()
	p, ok := testutil.ReadProc(sleep)
	if !ok || p.PGID != cmd.Process.Pid {
		t.Fatalf("sleep %d: %+v, want alive in the group of its exited leader %d", sleep, p, cmd.Process.Pid)
	}
	if n := g.killAll(); n != 1 {
		t.Errorf("killAll = %d, want 1", n)
	}
	if !testutil.PollUntil(time.Now().Add(time.Second), func() bool {
		p, ok := testutil.ReadProc(sleep)
		return !ok || p.State == "Z" || p.PGID != cmd.Process.Pid
	}) {
		t.Errorf("sleep %d still alive 1 s after killAll", sleep)
	}
}
