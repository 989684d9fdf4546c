package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"workqueue/internal/job"
)

// TestScheduledHoldsNoWorker checks, with -n 1, that a job waiting for its
// run_at holds no worker (a job submitted after it runs first), is queued
// with its run_at, counts in workqueue_jobs_scheduled and not in the queue's
// length, and is canceled by DELETE.
func TestScheduledHoldsNoWorker(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Workers = 1
	ts := newTestServer(t, cfg, Sleep)
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	rec := ts.do("POST", "/work", form, url.Values{"name": {"later"}, "run_at": {at.Format(time.RFC3339)}}.Encode())
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST later: %d %s", rec.Code, rec.Body)
	}
	later := decodeJob(t, rec.Body.Bytes())
	if later.State != "queued" || !later.RunAt.Equal(at) {
		t.Errorf("scheduled job %+v, want queued with run_at %v", later, at)
	}
	now := ts.submitID(t, "now", "")
	ts.waitJob(t, now, "done", func(j job.View) bool { return j.State == "done" })
	if j := ts.getJob(t, later.ID); j.State != "queued" || !j.RunAt.Equal(at) || !j.StartedAt.IsZero() {
		t.Errorf("scheduled job after the next one ran: %+v, want still queued", j)
	}
	body := ts.do("GET", "/metrics", "", "").Body.String()
	if s, q := metricValue(body, "workqueue_jobs_scheduled"), metricValue(body, "workqueue_queue_length"); s != 1 || q != 0 {
		t.Errorf("jobs_scheduled %d, queue_length %d; want 1 and 0", s, q)
	}
	if rec := ts.do("GET", "/work?state=queued", "", ""); !strings.Contains(rec.Body.String(), `"run_at":"`+at.Format(time.RFC3339)) {
		t.Errorf("GET /work?state=queued = %s, want the job with its run_at", rec.Body)
	}
	if rec := ts.do("DELETE", "/work/"+later.ID, "", ""); rec.Code != http.StatusOK || decodeJob(t, rec.Body.Bytes()).State != "canceled" {
		t.Fatalf("DELETE: %d %s, want 200 canceled", rec.Code, rec.Body)
	}
	if s := metricValue(ts.do("GET", "/metrics", "", "").Body.String(), "workqueue_jobs_scheduled"); s != 0 {
		t.Errorf("jobs_scheduled after the cancel: %d, want 0", s)
	}
}

// TestScheduledRuns checks a job never starts before its run_at, one whose
// run_at has passed runs now, and, with a command, a delay is a run_at.
func TestScheduledRuns(t *testing.T) {
	t.Parallel()
	ts := commandServer(t, testConfig(), `cat >/dev/null`)
	at := time.Now().Add(300 * time.Millisecond)
	for _, tt := range []struct{ name, body string }{
		{"soon", url.Values{"name": {"soon"}, "run_at": {at.Format(time.RFC3339Nano)}}.Encode()},
		{"past", url.Values{"name": {"past"}, "run_at": {"2020-01-01T00:00:00+02:00"}}.Encode()},
		{"delayed", "name=delayed&delay=300ms"},
	} {
		rec := ts.do("POST", "/work", form, tt.body)
		if rec.Code != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", tt.name, rec.Code, rec.Body)
		}
		posted := decodeJob(t, rec.Body.Bytes())
		j := ts.waitJob(t, posted.ID, "done", func(j job.View) bool { return j.State == "done" })
		switch tt.name {
		case "past":
			if want := time.Date(2019, 12, 31, 22, 0, 0, 0, time.UTC); !j.RunAt.Equal(want) {
				t.Errorf("past: run_at %v, want %v", j.RunAt, want)
			}
		case "delayed":
			if want := j.EnqueuedAt.Add(300 * time.Millisecond); !j.RunAt.Equal(want) {
				t.Errorf("delayed: run_at %v, want enqueued_at + 300ms = %v", j.RunAt, want)
			}
		}
		if j.StartedAt.Before(j.RunAt) {
			t.Errorf("%s: started at %v, before its run_at %v", tt.name, j.StartedAt, j.RunAt)
		}
	}
	rec := ts.do("POST", "/work", form, "name=both&delay=1s&run_at=2020-01-01T00:00:00Z")
	if got := decodeError(t, rec.Body.Bytes()); rec.Code != http.StatusBadRequest || !strings.Contains(got, "give run_at or delay, not both") {
		t.Errorf("run_at and delay with a command: %d %q, want 400", rec.Code, got)
	}
}

// TestScheduledLimits checks -max-scheduled (503 with Retry-After, reason
// scheduled, while a job without a run_at is still taken) and -max-ahead.
func TestScheduledLimits(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxScheduled = 1
	cfg.MaxAhead = time.Hour
	ts := newTestServer(t, cfg, Sleep)
	soon := time.Now().Add(30 * time.Minute).Format(time.RFC3339)
	if rec := ts.do("POST", "/work", form, "name=a&run_at="+soon); rec.Code != http.StatusCreated {
		t.Fatalf("first scheduled job: %d %s", rec.Code, rec.Body)
	}
	rec := ts.do("POST", "/work", form, "name=b&run_at="+soon)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" || !strings.Contains(rec.Body.String(), "-max-scheduled") {
		t.Errorf("past -max-scheduled: %d %v %s, want 503 with Retry-After: 1", rec.Code, rec.Header(), rec.Body)
	}
	if n := metricValue(ts.do("GET", "/metrics", "", "").Body.String(), `workqueue_jobs_rejected_total{reason="scheduled"}`); n != 1 {
		t.Errorf(`rejected{reason="scheduled"} = %d, want 1`, n)
	}
	if rec := ts.submit("c", ""); rec.Code != http.StatusCreated {
		t.Errorf("a job without run_at past -max-scheduled: %d, want 201", rec.Code)
	}
	far := time.Now().Add(2 * time.Hour).Format(time.RFC3339)
	rec = ts.do("POST", "/work", form, "name=d&run_at="+far)
	if got := decodeError(t, rec.Body.Bytes()); rec.Code != http.StatusBadRequest || !strings.Contains(got, "maximum of 1h0m0s ahead (-max-ahead)") {
		t.Errorf("past -max-ahead: %d %q, want 400 naming it", rec.Code, got)
	}
	rec = ts.do("POST", "/work", form, "name=e&run_at=soon")
	if got := decodeError(t, rec.Body.Bytes()); rec.Code != http.StatusBadRequest || !strings.Contains(got, `run_at "soon" is not an RFC 3339 time`) {
		t.Errorf("bad run_at: %d %q, want 400 naming it", rec.Code, got)
	}
}

// TestScheduledDrainWithoutJournal checks a drain never waits for a run_at:
// without a journal, a job waiting for one fails, logged, and the drain
// completes.
func TestScheduledDrainWithoutJournal(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig(), Sleep)
	rec := ts.do("POST", "/work", form, "name=a&run_at="+time.Now().Add(time.Hour).Format(time.RFC3339))
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	id := decodeJob(t, rec.Body.Bytes()).ID
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.drain(ctx); err != nil {
		t.Fatalf("drain: %v, want it complete", err)
	}
	if j := ts.getJob(t, id); j.State != "failed" || j.Error != job.ErrScheduleAbandoned.Error() {
		t.Errorf("job after the drain: %+v, want failed with %q", j, job.ErrScheduleAbandoned)
	}
	if want := `msg="scheduled jobs given up: the server is stopping without a journal" jobs=1 ids=` + id; !strings.Contains(ts.logs.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, ts.logs)
	}
}
