package lifecycle

import (
	"testing"
	"time"

	"workqueue/internal/events"
	"workqueue/internal/job"
	"workqueue/internal/metrics"
	"workqueue/internal/store"
)

// parts returns Effects over a fresh store, counters and hub.
func parts(t *testing.T) (*Effects, *store.Store, *metrics.Stats, *events.Hub) {
	jobs, stats, hub := store.New(10, nil), metrics.NewStats(), events.New(nil)
	t.Cleanup(hub.Close)
	return New(jobs, stats, hub), jobs, stats, hub
}

// TestEffectsOfEachChange drives one job through start, retry, start and
// finish, and another through a cancel while queued, and checks each change
// has its effects once: the counters, the events (one a change) and, for
// the cancel, OnCancel; a change that finds the job moved on has none.
func TestEffectsOfEachChange(t *testing.T) {
	e, jobs, stats, hub := parts(t)
	var told []*job.Job
	e.OnCancel = func(r *job.Job) { told = append(told, r) }
	now := time.Now()
	r := job.New("1", 1, "a", 0, "", now, job.Policy{})
	jobs.Add(r)
	if _, ok := e.Start(r, 1, now, func() {}); !ok {
		t.Fatal("Start of a queued job = false")
	}
	if !e.Requeue(r, now.Add(time.Second), "exit status 1") {
		t.Fatal("Requeue of a running job = false")
	}
	if _, ok := e.Start(r, 2, now, func() {}); !ok {
		t.Fatal("second Start = false")
	}
	if !e.Finish(r, job.Done, now, "") {
		t.Fatal("Finish of a running job = false")
	}
	if e.Finish(r, job.Failed, now, "late") || e.Requeue(r, now, "late") {
		t.Error("a change of a finished job took effect")
	}
	q := job.New("2", 2, "b", 0, "", now, job.Policy{})
	jobs.Add(q)
	if prev, ok, err := e.Cancel(q, now); prev != job.Queued || !ok || err != nil {
		t.Fatalf("Cancel of a queued job = %v, %v, %v; want queued, true, nil", prev, ok, err)
	}
	if _, ok := e.Start(q, 1, now, func() {}); ok {
		t.Error("Start of a canceled job = true")
	}
	if got := hub.LastID(); got != 5 {
		t.Errorf("%d job events published, want 5: start, retry, start, done, canceled", got)
	}
	if stats.Done.Load() != 1 || stats.Canceled.Load() != 1 || stats.Failed.Load() != 0 {
		t.Errorf("done %d canceled %d failed %d, want 1 1 0", stats.Done.Load(), stats.Canceled.Load(), stats.Failed.Load())
	}
	if len(told) != 1 || told[0] != q {
		t.Errorf("OnCancel told of %v, want job 2 alone", told)
	}
	if r.State() != job.Done || q.State() != job.Canceled {
		t.Errorf("states %v and %v, want done and canceled", r.State(), q.State())
	}
}

// TestAbandonFails checks that a job abandoned by a drain that
// gave up fails for the store, the counters and the events.
func TestAbandonFails(t *testing.T) {
	e, jobs, stats, hub := parts(t)
	now := time.Now()
	r := job.New("1", 1, "a", 0, "", now, job.Policy{})
	jobs.Add(r)
	e.Start(r, 1, now, func() {})
	if !e.Abandon(r, now, "abandoned") {
		t.Fatal("Abandon of a running job = false")
	}
	if r.State() != job.Failed || stats.Failed.Load() != 1 || hub.LastID() != 2 {
		t.Errorf("state %v, failed %d, events %d; want failed, 1, 2", r.State(), stats.Failed.Load(), hub.LastID())
	}
}
