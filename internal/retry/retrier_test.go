package retry

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"workqueue/internal/events"
	"workqueue/internal/job"
	"workqueue/internal/lifecycle"
	"workqueue/internal/metrics"
	"workqueue/internal/queue"
	"workqueue/internal/store"
	"workqueue/internal/testutil"
)

// TestRetrierDrain checks the drain's step on its own, with the RetryQueue's
// timer stopped so that a retry is due but not yet handed over: the due one
// goes onto WorkQueue, counted as waiting, the other fails, and so does a
// job whose attempt fails afterwards.
func TestRetrierDrain(t *testing.T) {
	stats, jobs, logs := metrics.NewStats(), store.New(10, nil), new(testutil.SyncBuffer)
	wq := queue.New(10, &stats.Accepted)
	rt := New(3, wq, lifecycle.New(jobs, stats, events.New(nil)), slog.New(slog.NewTextHandler(logs, nil)))
	due := &job.Job{ID: "1", Seq: 1}
	due.Restore(job.Status{Err: "exit status 1"})
	later := &job.Job{ID: "2", Seq: 2}
	later.Restore(job.Status{Err: "exit status 2"})
	late := &job.Job{ID: "3", Seq: 3}
	late.Restore(job.Status{State: job.Running, Attempts: 1})
	for _, r := range []*job.Job{due, later, late} {
		jobs.Add(r)
	}
	finals := map[*job.Job]<-chan struct{}{later: later.Final(), late: late.Final()} // as GET ?wait= does
	rt.queue.Stop()                                                                  // keeps the timer from handing due over first
	rt.queue.Add(due, time.Now().Add(-time.Second))
	rt.queue.Add(later, time.Now().Add(time.Hour))
	rt.Drain()
	if _, ok := rt.Wait(late, errors.New("exit status 3")); !ok {
		t.Fatalf("wait(running job) reported it canceled")
	}
	if n := wq.Len(); n != 1 {
		t.Fatalf("WorkQueue length %d after the drain, want 1: the due job", n)
	}
	if r, ok, _ := wq.Next(nil); r != due || !ok {
		t.Errorf("WorkQueue: next %v, %v; want the due job", r, ok)
	}
	if rt.queue.Len() != 0 {
		t.Errorf("RetryQueue length %d after the drain, want 0", rt.queue.Len())
	}
	for _, r := range []*job.Job{later, late} {
		want := "abandoned: the server stopped before its retry; last attempt: exit status " + r.ID
		if j := r.Snapshot(); j.State != "failed" || j.Error != want {
			t.Errorf("job %s: %+v, want failed with %q", r.ID, j, want)
		}
		select {
		case <-finals[r]:
		default:
			t.Errorf("job %s: failed, but its Final channel is open: a GET ?wait= would not wake", r.ID)
		}
	}
	if n := stats.Failed.Load(); n != 2 {
		t.Errorf("failed %d, want 2", n)
	}
	for _, want := range []string{`msg="retries given up: the server is stopping" jobs=1 ids=2 more=0`, `jobs=1 ids=3 more=0`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}
