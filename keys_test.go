package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"workqueue/internal/idempotency"
	"workqueue/internal/job"
	"workqueue/internal/metrics"
	"workqueue/internal/queue"
	"workqueue/internal/store"
	"workqueue/internal/submit"
)

// TestIdempotencyKeyForgotten checks a key lives exactly as long as the
// store keeps its job, with a store that keeps one finished job: bound
// while the job is kept, forgotten once a newer finished job pushes it out,
// and never more keys remembered than jobs kept, however many keys are sent.
func TestIdempotencyKeyForgotten(t *testing.T) {
	stats, keys := metrics.NewStats(), idempotency.New()
	c := &Collector{queue: queue.New(10, &stats.Accepted), jobs: store.New(1, keys.Forget), keys: keys, stats: stats,
		limits: submit.Limits{MaxDelay: time.Second}, log: discardLogger()}
	finishNext := func() {
		r, _, _ := c.queue.Next(nil)
		r.Start(1, time.Now(), nil)
		r.Finish(job.Done, time.Now(), "")
		c.jobs.Finished(r)
	}
	first := submitKey(c, "Alice", "", "k")
	finishNext()
	if rec := submitKey(c, "Alice", "", "k"); rec.Header().Get("Location") != first.Header().Get("Location") {
		t.Fatalf("retry while the job is kept: Location %q, want %q", rec.Header().Get("Location"), first.Header().Get("Location"))
	}
	submitKey(c, "Bob", "", "other")
	finishNext() // Alice's job leaves the store
	if c.jobs.Get("1") != nil {
		t.Fatal("job 1 still kept; the test needs it gone")
	}
	rec := submitKey(c, "Alice", "", "k")
	if rec.Code != http.StatusCreated || rec.Header().Get("Idempotent-Replayed") != "" || rec.Header().Get("Location") == first.Header().Get("Location") {
		t.Errorf("key of a forgotten job: %d %s, Idempotent-Replayed %q; want 201, a new job", rec.Code, rec.Header().Get("Location"), rec.Header().Get("Idempotent-Replayed"))
	}
	finishNext()
	for i := range 1000 {
		submitKey(c, "n", "", fmt.Sprint("key-", i))
		finishNext()
	}
	if n, kept := c.keys.Len(), c.jobs.Len(); n != 1 || kept != 1 {
		t.Errorf("after 1000 keyed jobs, %d keys remembered and %d jobs kept, want 1 and 1", n, kept)
	}
}

// TestIdempotencyKeyRestore checks a key restored at start, as a journal
// would, answers its retry with the restored job, and a key restored for a
// job the store does not keep is free.
func TestIdempotencyKeyRestore(t *testing.T) {
	ts := newTestServer(t, testConfig(), newGate(nil).work)
	r := &WorkRequest{ID: "41", Seq: 41, Name: "Alice", Delay: time.Second, EnqueuedAt: time.Now()}
	ts.jobs.Add(r)
	ts.keys.Restore("k", 41, "Alice", time.Second)
	rec := submitKey(ts.handler, "Alice", "1s", "k")
	if rec.Code != http.StatusCreated || rec.Header().Get("Location") != "/work/41" || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry of a restored key: %d %s %q; want 201 /work/41 true", rec.Code, rec.Header().Get("Location"), rec.Header().Get("Idempotent-Replayed"))
	}
	if rec := submitKey(ts.handler, "Bob", "1s", "k"); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("restored key with another name: %d, want 422", rec.Code)
	}
	ts.keys.Restore("stale", 7, "Alice", 0) // job 7 is not kept
	if rec := submitKey(ts.handler, "Alice", "", "stale"); rec.Code != http.StatusCreated || rec.Header().Get("Idempotent-Replayed") != "" {
		t.Errorf("key restored for a job not kept: %d, Idempotent-Replayed %q; want 201, a new job", rec.Code, rec.Header().Get("Idempotent-Replayed"))
	}
}
