package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestDrainEndsEveryGoroutine drains a busy server inside a synctest bubble.
// synctest.Test fails the test if any goroutine the server started (the
// dispatcher, a worker, a timer's) is still alive when the drain returns.
func TestDrainEndsEveryGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers, cfg.Queue = 3, 23
		ts := newTestServer(t, cfg, Sleep)
		for i := range 23 {
			delay := time.Duration(i%5) * 300 * time.Millisecond
			if rec := ts.submit(fmt.Sprintf("job%d", i), delay.String()); rec.Code != http.StatusCreated {
				t.Fatalf("POST job%d: status = %d, want 201", i, rec.Code)
			}
		}
		start := time.Now()
		if err := ts.drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := len(greetings(t, ts.out)); got != 23 {
			t.Errorf("%d jobs ran before the drain returned, want 23", got)
		}
		if took := time.Since(start); took < 2*time.Second {
			t.Errorf("drain took %v of fake time; the delays alone need at least 2s", took)
		}
	})
}

// TestDrainGivesUp checks a drain that runs out of time: the running job is
// interrupted and fails, the queued ones never run, the error counts every
// accepted job left unfinished, and no goroutine outlives it.
func TestDrainGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers = 1
		ts := newTestServer(t, cfg, Sleep)
		var ids []string
		for i := range 4 {
			rec := ts.submit(fmt.Sprintf("job%d", i), "10s")
			ids = append(ids, decodeJob(t, rec.Body.Bytes()).ID)
		}
		ts.submit("quick", "0s") // also behind the long ones
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		err := ts.drain(ctx)
		var ab *abandonedError
		if !errors.As(err, &ab) || ab.jobs != 5 {
			t.Fatalf("drain = %v, want 5 jobs abandoned", err)
		}
		if took := time.Since(start); took != time.Second {
			t.Errorf("drain gave up after %v, want 1s", took)
		}
		if out := ts.out.String(); out != "" {
			t.Errorf("stdout = %q, want nothing: no job completed", out)
		}
		first := ts.jobs.Get(ids[0]).Snapshot()
		if first.State != "failed" || first.Error != errAbandoned.Error() {
			t.Errorf("the running job: state %q, error %q; want failed, %q", first.State, first.Error, errAbandoned)
		}
		for _, id := range ids[1:] {
			if s := ts.jobs.Get(id).Snapshot().State; s != "queued" {
				t.Errorf("job %s left in the queue: state %v, want queued (never started)", id, s)
			}
		}
	})
}

// TestPanicIsContained runs work that panics: the job fails with the panic's
// message, the failure is logged with the job's id, and the same worker goes
// on to complete the next job.
func TestPanicIsContained(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers = 1
		ts := newTestServer(t, cfg, panicky)
		boom := ts.submitID(t, "boom", "0s")
		after := ts.submitID(t, "after", "1s")
		if err := ts.drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		if j := ts.getJob(t, boom); j.State != "failed" || j.Error != "panic: boom went the work" {
			t.Errorf("panicking job: %+v, want failed with the panic's message", j)
		}
		if j := ts.getJob(t, after); j.State != "done" || j.Worker != 1 {
			t.Errorf("the next job: %+v, want done by worker 1", j)
		}
		if got := ts.out.String(); got != "worker1: Hello, after!\n" {
			t.Errorf("stdout = %q, want only the next job's greeting", got)
		}
		want := `level=ERROR msg="job failed" worker=1 id=` + boom + ` err="panic: boom went the work"`
		if !strings.Contains(ts.logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, ts.logs)
		}
		if got := ts.stats.Failed.Load(); got != 1 {
			t.Errorf("failed counter = %d, want 1", got)
		}
	})
}
