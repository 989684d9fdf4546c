package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"workqueue/internal/command"
	"workqueue/internal/retry"
)

// failing is a Work that fails the first fails attempts of every job named
// "flaky" ("attempt N failed"), and of every job named "doomed" all of them;
// a job named "slow" waits for its delay; the others hold on g, if set, and
// complete. It records when each attempt of each job started.
type failing struct {
	fails int
	g     *gate

	mu     sync.Mutex             // guards starts
	starts map[string][]time.Time // the start of each attempt, by job id
}

func newFailing(fails int, g *gate) *failing {
	return &failing{fails: fails, g: g, starts: map[string][]time.Time{}}
}

func (f *failing) work(ctx context.Context, r *WorkRequest) error {
	f.mu.Lock()
	f.starts[r.ID] = append(f.starts[r.ID], time.Now())
	f.mu.Unlock()
	n := r.Attempts()
	switch {
	case r.Name == "doomed", r.Name == "flaky" && n <= f.fails:
		return fmt.Errorf("attempt %d failed", n)
	case r.Name == "slow":
		return Sleep(ctx, r)
	case f.g != nil:
		return f.g.work(ctx, r)
	}
	return nil
}

// attemptStarts returns when each attempt of job id started.
func (f *failing) attemptStarts(id string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.starts[id]...)
}

// TestRetryThenDone checks a job that fails twice, with -retries 3: it ends
// done after 3 attempts, the waits between them are the backoff (1 s, then
// 2 s, ±20 %), each attempt starts at the retry_at the job showed, and
// during its backoff the job is queued, holds no worker, and other jobs use
// every worker.
func TestRetryThenDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers, cfg.Retries = 2, 3
		started := make(chan *WorkRequest, 2)
		f := newFailing(2, newGate(started))
		ts := newTestServer(t, cfg, f.work)
		id := ts.submitID(t, "flaky", "0s")
		synctest.Wait()

		j := ts.getJob(t, id)
		if j.State != "queued" || j.Attempts != 1 || j.RetryAt.IsZero() || j.Error != "attempt 1 failed" || j.Worker != 0 || !j.StartedAt.IsZero() {
			t.Fatalf("after a failed attempt: %+v, want queued, attempts 1, retry_at, error %q, no worker or start", j, "attempt 1 failed")
		}
		retryAt := []time.Time{j.RetryAt}
		// Both workers take other jobs while the flaky one waits.
		ts.submitID(t, "other1", "0s")
		ts.submitID(t, "other2", "0s")
		<-started
		<-started
		if m, _ := scrape(t, ts); m["workqueue_jobs_retrying"] != 1 || m["workqueue_workers_busy"] != 2 {
			t.Errorf("during the backoff: retrying %v, busy workers %v; want 1 and 2", m["workqueue_jobs_retrying"], m["workqueue_workers_busy"])
		}
		close(f.g.open)
		synctest.Wait()

		time.Sleep(time.Until(retryAt[0])) // the second attempt fails too
		synctest.Wait()
		j = ts.getJob(t, id)
		if j.State != "queued" || j.Attempts != 2 || j.RetryAt.IsZero() || j.Error != "attempt 2 failed" {
			t.Fatalf("after the second attempt: %+v, want queued, attempts 2, retry_at, error %q", j, "attempt 2 failed")
		}
		retryAt = append(retryAt, j.RetryAt)
		time.Sleep(time.Until(retryAt[1]))
		synctest.Wait()

		j = ts.getJob(t, id)
		if j.State != "done" || j.Attempts != 3 || !j.RetryAt.IsZero() {
			t.Fatalf("after the third attempt: %+v, want done, attempts 3, no retry_at", j)
		}
		starts := f.attemptStarts(id)
		if len(starts) != 3 {
			t.Fatalf("attempts started at %v, want 3", starts)
		}
		for i, base := range []time.Duration{time.Second, 2 * time.Second} {
			wait := starts[i+1].Sub(starts[i])
			if lo, hi := base*8/10, base*12/10; wait < lo || wait > hi {
				t.Errorf("wait before attempt %d = %v, want %v ±20%%", i+2, wait, base)
			}
			if !starts[i+1].Equal(retryAt[i]) {
				t.Errorf("attempt %d started at %v, want its retry_at %v", i+2, starts[i+1], retryAt[i])
			}
		}
		if got := strings.Join(greetings(t, ts.out), ","); got != "other1,other2,flaky" && got != "other2,other1,flaky" {
			t.Errorf("greetings %q, want the others', then flaky's once", got)
		}
		m, _ := scrape(t, ts)
		for name, want := range map[string]float64{
			`workqueue_job_attempts_total{outcome="done"}`:   3,
			`workqueue_job_attempts_total{outcome="failed"}`: 2,
			`workqueue_jobs_retrying`:                        0,
			`workqueue_jobs_finished_total{state="done"}`:    3,
			`workqueue_job_run_seconds_count`:                5,
		} {
			if m[name] != want {
				t.Errorf("%s = %v, want %v", name, m[name], want)
			}
		}
	})
}

// TestRetriesRunOut checks that with -retries 1 a job that always fails ends
// failed after 2 attempts, with the last error, and that a timeout is counted
// as one.
func TestRetriesRunOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Retries = 1
		timesOut := func(ctx context.Context, r *WorkRequest) error {
			if r.Name == "late" {
				return &command.TimeoutError{Limit: time.Second, Ended: "killed by SIGTERM"}
			}
			return newFailing(0, nil).work(ctx, r)
		}
		ts := newTestServer(t, cfg, timesOut)
		doomed := ts.submitID(t, "doomed", "0s")
		late := ts.submitID(t, "late", "0s")
		time.Sleep(retry.Backoff(1, 1)) // the longest first backoff
		synctest.Wait()
		for _, tt := range []struct{ id, err string }{
			{doomed, "attempt 2 failed"},
			{late, "killed by SIGTERM after -job-timeout 1s"},
		} {
			if j := ts.getJob(t, tt.id); j.State != "failed" || j.Attempts != 2 || j.Error != tt.err || !j.RetryAt.IsZero() {
				t.Errorf("job %s: %+v, want failed after 2 attempts with error %q, no retry_at", tt.id, j, tt.err)
			}
		}
		m, _ := scrape(t, ts)
		for name, want := range map[string]float64{
			`workqueue_job_attempts_total{outcome="failed"}`:  2,
			`workqueue_job_attempts_total{outcome="timeout"}`: 2,
			`workqueue_jobs_finished_total{state="failed"}`:   2,
		} {
			if m[name] != want {
				t.Errorf("%s = %v, want %v", name, m[name], want)
			}
		}
		if out := ts.out.String(); out != "" {
			t.Errorf("stdout %q, want nothing: no job completed", out)
		}
	})
}

// TestRetryCanceled checks that a job canceled while it waits for its retry
// is never tried again and stops counting as retrying.
func TestRetryCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Retries = 5
		f := newFailing(0, nil)
		ts := newTestServer(t, cfg, f.work)
		id := ts.submitID(t, "doomed", "0s")
		synctest.Wait()
		rec := ts.do("DELETE", "/work/"+id, "", "")
		j := decodeJob(t, rec.Body.Bytes())
		if rec.Code != http.StatusOK || j.State != "canceled" || !j.RetryAt.IsZero() {
			t.Fatalf("DELETE during the backoff: %d %+v, want 200, canceled, no retry_at", rec.Code, j)
		}
		if m, _ := scrape(t, ts); m["workqueue_jobs_retrying"] != 0 || m["workqueue_queue_length"] != 0 {
			t.Errorf("after the cancel: retrying %v, queue length %v; want 0 and 0", m["workqueue_jobs_retrying"], m["workqueue_queue_length"])
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if n := len(f.attemptStarts(id)); n != 1 {
			t.Errorf("the canceled job was attempted %d times, want 1", n)
		}
		if j := ts.getJob(t, id); j.State != "canceled" || j.Attempts != 1 {
			t.Errorf("5 minutes on: %+v, want still canceled after 1 attempt", j)
		}
	})
}

// TestDrainAndRetries checks the drain's rule: a retry already due runs
// before the drain ends; one whose backoff has not ended, and an attempt
// that fails during the drain, are given up, failed with their last error;
// and the drain completes.
func TestDrainAndRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers, cfg.Retries = 1, 3
		started := make(chan *WorkRequest, 1)
		g := newGate(started)
		ts := newTestServer(t, cfg, newFailing(1, g).work)
		due := ts.submitID(t, "flaky", "0s") // fails, then waits 1 s
		synctest.Wait()
		held := ts.submitID(t, "held", "0s") // holds the only worker
		<-started
		time.Sleep(retry.Backoff(1, 1)) // the flaky job is due: queued behind the held one
		synctest.Wait()
		failsLate := ts.submitID(t, "doomed", "0s") // waits behind the flaky one, fails during the drain
		drained := make(chan error)
		go func() { drained <- ts.drain(t.Context()) }()
		synctest.Wait()
		close(g.open)
		if err := <-drained; err != nil {
			t.Fatalf("drain = %v, want nil", err)
		}
		for _, tt := range []struct{ id, state, err string }{
			{held, "done", ""},
			{due, "done", ""}, // done: the error of its failed attempt is gone
			{failsLate, "failed", "abandoned: the server stopped before its retry; last attempt: attempt 1 failed"},
		} {
			if j := ts.getJob(t, tt.id); j.State != tt.state || j.Error != tt.err {
				t.Errorf("job %s: %+v, want %s with error %q", tt.id, j, tt.state, tt.err)
			}
		}
		if !strings.Contains(ts.logs.String(), `msg="retries given up: the server is stopping" jobs=1 ids=`+failsLate) {
			t.Errorf("log does not name the job given up:\n%s", ts.logs)
		}
	})
}

// TestDrainGivesUpPendingRetries checks that a drain gives up a job whose
// backoff has not ended, at once, without waiting for it.
func TestDrainGivesUpPendingRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Retries = 3
		ts := newTestServer(t, cfg, newFailing(1, nil).work)
		id := ts.submitID(t, "flaky", "0s")
		synctest.Wait()
		start := time.Now()
		if err := ts.drain(t.Context()); err != nil {
			t.Fatalf("drain = %v, want nil", err)
		}
		if took := time.Since(start); took != 0 {
			t.Errorf("drain took %v, want no wait", took)
		}
		if j := ts.getJob(t, id); j.State != "failed" || j.Attempts != 1 || !strings.HasPrefix(j.Error, "abandoned: the server stopped before its retry") {
			t.Errorf("job: %+v, want failed after 1 attempt, abandoned before its retry", j)
		}
		if m, _ := scrape(t, ts); m["workqueue_jobs_retrying"] != 0 || m[`workqueue_jobs_finished_total{state="failed"}`] != 1 {
			t.Errorf("retrying %v, failed %v; want 0 and 1", m["workqueue_jobs_retrying"], m[`workqueue_jobs_finished_total{state="failed"}`])
		}
	})
}
