package command

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

	"workqueue/internal/testutil"
)

// zombieChildren returns the children of this process that are zombies.
func zombieChildren() []testutil.Process {
	ents, _ := os.ReadDir("/proc")
	var zs []testutil.Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := testutil.ReadProc(pid); ok && p.PPID == os.Getpid() && p.State == "Z" {
			zs = append(zs, p)
		}
	}
	return zs
}

// subreaper reports whether this process is a child subreaper.
func subreaper(t *testing.T) bool {
	var v int32
	if err := prctl(prGetChildSubreaper, uintptr(unsafe.Pointer(&v))); err != nil {
		t.Fatal(err)
	}
	return v != 0
}

// TestSupervise runs, under Supervise, commands that leave children behind:
// in their group (killed as the attempt ends), and out of it with setsid
// (left to exit on their own). Orphaned to this process, a subreaper, none
// stays a zombie; and no command's exit status is stolen from its Run, 40
// attempts at once. end then clears the subreaper attribute.
func TestSupervise(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid(1):", err)
	}
	if subreaper(t) {
		t.Fatal("this test process is a subreaper already")
	}
	// "away" waits until its sleep has left the group, lest the group's
	// SIGKILL at the attempt's end catch it before its setsid.
	script := `case $WORKQUEUE_NAME in
fail) sleep 0.1 & exit 3;;
away) f=$(mktemp -p '` + t.TempDir() + `')
	setsid sh -c 'echo $$ >"$0"; exec sleep 0.2' "$f" >/dev/null 2>&1 &
	while [ ! -s "$f" ]; do sleep 0.01; done; echo started;;
*) sleep 0.2 & sleep 0.3 & echo started;;
esac`
	c := shCommand(t, script, 0)
	end := c.Supervise(func(err error) { t.Error(err) })
	endOnce := sync.OnceFunc(end)
	defer endOnce()
	if !subreaper(t) {
		t.Error("no subreaper under Supervise")
	}
	id := jobID(t)
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	for i := range 40 {
		name := [...]string{"fail", "away", "both", "both"}[i%4]
		wg.Go(func() {
			out, _, err := c.Run(t.Context(), Job{ID: id, Name: name, Attempt: 1})
			switch {
			case name == "fail" && fmt.Sprint(err) != "exit status 3":
				errs <- fmt.Sprintf("%s: Run = %q, %v; want exit status 3", name, out, err)
			case name != "fail" && (err != nil || string(out) != "started\n"):
				errs <- fmt.Sprintf("%s: Run = %q, %v; want %q, nil", name, out, err, "started\n")
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	requireGone(t, id, time.Now().Add(5*time.Second)) // the setsid sleeps exit after 0.2 s
	var zs []testutil.Process
	if !testutil.PollUntil(time.Now().Add(2*time.Second), func() bool { zs = zombieChildren(); return len(zs) == 0 }) {
		t.Errorf("zombie children: %+v, want none", zs)
	}
	if n := c.groups.live(); n != 0 {
		t.Errorf("%d groups still registered, want none", n)
	}
	endOnce()
	if subreaper(t) {
		t.Error("still a subreaper after end")
	}
}

// TestSuperviseEnd checks that Supervise's end kills what is still running,
// orphans of exited leaders included, and is gone when end returns.
func TestSuperviseEnd(t *testing.T) {
	c := shCommand(t, "trap '' TERM; sleep 30 & wait", 0)
	end := c.Supervise(func(err error) { t.Error(err) })
	id := jobID(t)
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Run(t.Context(), Job{ID: id, Name: "x", Attempt: 1})
		done <- err
	}()
	var ps []testutil.Process
	if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool { ps = jobProcesses(id); return len(ps) == 2 }) {
		end()
		t.Fatalf("job's processes: %+v, want sh and sleep", ps)
	}
	end()
	if ps := jobProcesses(id); len(ps) != 0 {
		t.Errorf("processes left when end returned: %+v, want none", ps)
	}
	if err := <-done; fmt.Sprint(err) != "killed by SIGKILL" {
		t.Errorf("Run = %v, want killed by SIGKILL", err)
	}
	if zs := zombieChildren(); len(zs) != 0 {
		t.Errorf("zombie children: %+v, want none", zs)
	}
}

// BenchmarkCommandTrueSupervised is BenchmarkCommandTrue under Supervise,
// as the server runs its commands: the cost of the reaper on each job.
func BenchmarkCommandTrueSupervised(b *testing.B) {
	c, err := New([]string{"true"}, time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Supervise(func(err error) { b.Error(err) })()
	job := Job{ID: "1", Name: "bench", Attempt: 1}
	runOn4(b, func() error { _, _, err := c.Run(context.Background(), job); return err })
}
