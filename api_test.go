package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/respond"
)

// getJob fetches a job through GET /work/{id}, failing the test unless it
// answers 200.
func (ts *testServer) getJob(t *testing.T, id string) job.View {
	t.Helper()
	rec := ts.do("GET", "/work/"+id, "", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /work/%s: status = %d, want 200; %s", id, rec.Code, rec.Body)
	}
	return decodeJob(t, rec.Body.Bytes())
}

// submitID submits a job and returns its id, failing the test unless it is
// accepted.
func (ts *testServer) submitID(t *testing.T, name, delay string) string {
	t.Helper()
	rec := ts.submit(name, delay)
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST %s: status = %d, want 201; %s", name, rec.Code, rec.Body)
	}
	return decodeJob(t, rec.Body.Bytes()).ID
}

// panicky is a Work that panics for the name "boom" and sleeps otherwise.
func panicky(ctx context.Context, r *WorkRequest) error {
	if r.Name == "boom" {
		panic("boom went the work")
	}
	return Sleep(ctx, r)
}

// TestJobStates observes every state a job can reach through GET /work/{id},
// with the timestamps each state shows, in order.
func TestJobStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers = 1
		ts := newTestServer(t, cfg, panicky)
		first := ts.submitID(t, "first", "1s")
		queued := ts.submitID(t, "second", "2s")
		toCancel := ts.submitID(t, "third", "5s")
		failing := ts.submitID(t, "boom", "0s")
		synctest.Wait()

		j := ts.getJob(t, queued)
		if j.State != "queued" || j.Worker != 0 || !j.StartedAt.IsZero() || !j.FinishedAt.IsZero() {
			t.Errorf("waiting behind another job: %+v, want queued, no worker, start or finish", j)
		}
		time.Sleep(1500 * time.Millisecond)
		if j := ts.getJob(t, first); j.State != "done" || j.FinishedAt.IsZero() {
			t.Errorf("after its delay: %+v, want done with finished_at", j)
		}
		j = ts.getJob(t, queued)
		if j.State != "running" || j.Worker != 1 || j.StartedAt.IsZero() || !j.FinishedAt.IsZero() {
			t.Fatalf("on its worker: %+v, want running on worker 1, started, not finished", j)
		}
		time.Sleep(2 * time.Second)
		j = ts.getJob(t, queued)
		if j.State != "done" || j.FinishedAt.IsZero() || j.FinishedAt.Sub(j.StartedAt) != 2*time.Second ||
			!j.EnqueuedAt.Before(j.StartedAt) {
			t.Errorf("done: %+v, want enqueued < started, finished 2s after start", j)
		}

		synctest.Wait() // the third job is running now
		time.Sleep(time.Second)
		canceledAt := time.Now()
		rec := ts.do("DELETE", "/work/"+toCancel, "", "")
		if rec.Code != http.StatusOK {
			t.Fatalf("DELETE a running job: status = %d, want 200", rec.Code)
		}
		j = ts.getJob(t, toCancel)
		if j.State != "canceled" || j.Worker != 1 || j.StartedAt.IsZero() || j.FinishedAt.IsZero() ||
			!j.FinishedAt.Equal(canceledAt) || !j.StartedAt.Before(canceledAt) {
			t.Errorf("canceled while running: %+v, want canceled at %v, after its start", j, canceledAt)
		}

		synctest.Wait() // the panicking job has run
		j = ts.getJob(t, failing)
		if j.State != "failed" || !strings.Contains(j.Error, "panic: boom went the work") || j.FinishedAt.IsZero() ||
			j.FinishedAt.Before(j.StartedAt) {
			t.Errorf("panicked: %+v, want failed with the panic's message and times in order", j)
		}
		if got := greetings(t, ts.out); strings.Join(got, " ") != "first second" {
			t.Errorf("greetings = %q, want first and second only", got)
		}
	})
}

// TestCancelQueued cancels a job while it waits: it answers 200 canceled,
// never starts or prints, and the jobs behind it still run in order.
func TestCancelQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers = 1
		ts := newTestServer(t, cfg, Sleep)
		var ids []string
		for _, name := range []string{"a", "b", "c", "d", "e"} {
			ids = append(ids, ts.submitID(t, name, "1s"))
		}
		synctest.Wait()
		for _, id := range []string{ids[1], ids[3]} {
			rec := ts.do("DELETE", "/work/"+id, "", "")
			j := decodeJob(t, rec.Body.Bytes())
			if rec.Code != http.StatusOK || j.State != "canceled" || !j.StartedAt.IsZero() || j.FinishedAt.IsZero() {
				t.Fatalf("DELETE queued job %s: %d %+v, want 200 canceled, never started", id, rec.Code, j)
			}
		}
		if err := ts.drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := greetings(t, ts.out); strings.Join(got, " ") != "a c e" {
			t.Errorf("greetings = %q, want a c e in that order", got)
		}
		if j := ts.getJob(t, ids[1]); j.State != "canceled" || j.Worker != 0 {
			t.Errorf("canceled job after the drain: %+v, want canceled, never on a worker", j)
		}
		if got, want := ts.stats.Canceled.Load(), int64(2); got != want {
			t.Errorf("canceled counter = %d, want %d", got, want)
		}
	})
}

// TestCancelRunning cancels a job in the middle of its delay: its worker
// takes the next job at once instead of waiting the delay out.
func TestCancelRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers = 1
		ts := newTestServer(t, cfg, Sleep)
		long := ts.submitID(t, "long", "10s")
		next := ts.submitID(t, "next", "1s")
		time.Sleep(time.Second)
		canceledAt := time.Now()
		if rec := ts.do("DELETE", "/work/"+long, "", ""); rec.Code != http.StatusOK {
			t.Fatalf("DELETE running job: status = %d, want 200", rec.Code)
		}
		synctest.Wait()
		j := ts.getJob(t, next)
		if j.State != "running" || !j.StartedAt.Equal(canceledAt) {
			t.Fatalf("the next job: %+v, want running, started at the cancel (%v)", j, canceledAt)
		}
		if err := ts.drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(canceledAt); took != time.Second {
			t.Errorf("the next job finished %v after the cancel, want 1s", took)
		}
		if got := greetings(t, ts.out); strings.Join(got, " ") != "next" {
			t.Errorf("greetings = %q, want just next", got)
		}
		if busy := ts.stats.Busy.Load(); busy != 0 {
			t.Errorf("busy workers after the drain = %d, want 0", busy)
		}
	})
}

// TestCancelErrors checks DELETE on a finished job (409), an unknown job
// (404), and other methods on a job (405).
func TestCancelErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := newTestServer(t, testConfig(), Sleep)
		id := ts.submitID(t, "quick", "0s")
		synctest.Wait()
		rec := ts.do("DELETE", "/work/"+id, "", "")
		if rec.Code != http.StatusConflict || !strings.Contains(decodeError(t, rec.Body.Bytes()), "already finished: it is done") {
			t.Errorf("DELETE a done job: %d %s, want 409 saying it is done", rec.Code, rec.Body)
		}
		if rec := ts.do("DELETE", "/work/nope", "", ""); rec.Code != http.StatusNotFound {
			t.Errorf("DELETE an unknown job: status = %d, want 404", rec.Code)
		}
		for _, alias := range []string{"0" + id, "+" + id, id + " "} {
			if rec := ts.do("GET", "/work/"+url.PathEscape(alias), "", ""); rec.Code != http.StatusNotFound {
				t.Errorf("GET /work/%q, another spelling of job %s: status = %d, want 404", alias, id, rec.Code)
			}
		}
		rec = ts.do("PUT", "/work/"+id, "", "")
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, DELETE" {
			t.Errorf("PUT /work/%s: %d, Allow %q; want 405, GET, DELETE", id, rec.Code, rec.Header().Get("Allow"))
		}
		if rec := ts.do("GET", "/nowhere", "", ""); rec.Code != http.StatusNotFound || decodeError(t, rec.Body.Bytes()) == "" {
			t.Errorf("GET /nowhere: %d %s, want 404 with a JSON error", rec.Code, rec.Body)
		}
		if got := ts.stats.Canceled.Load(); got != 0 {
			t.Errorf("canceled counter = %d after refused cancels, want 0", got)
		}
	})
}

// TestJobJSON checks the hand-written JSON of a job is byte for byte what
// encoding/json makes of it, for plain and awkward names and errors.
func TestJobJSON(t *testing.T) {
	at := time.Date(2026, 11, 28, 10, 0, 0, 123456789, time.UTC)
	later := at.Add(1500 * time.Millisecond)
	output, empty := "line 1\nline <2> \u2028 \xff\n", ""
	zero, three := 0, 3
	for _, j := range []job.View{
		{ID: "1", Name: "Alice", Delay: "0s", State: "queued", EnqueuedAt: at},
		{ID: "2", Name: `Bob "the <b>" & \co`, Delay: "2s", State: "running", Worker: 3, EnqueuedAt: at, StartedAt: at},
		{ID: "3", Name: "Élodie 🐹 \u2028\u2029", Delay: "1.5s", State: "done", Worker: 12, EnqueuedAt: at, StartedAt: at, FinishedAt: later},
		{ID: "4", Name: "x", Delay: "10ms", State: "failed", Worker: 1, EnqueuedAt: at, StartedAt: at, FinishedAt: later,
			Error: "panic: bad \xff byte\n\ttab"},
		{ID: "5", Name: "~!#$%^*()_+{}|:?,./;'[]=-`", Delay: "0s", State: "canceled", EnqueuedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{ID: "6", Name: "r", Delay: "0s", State: "queued", EnqueuedAt: at, StartedAt: at, Attempts: 2, RetryAt: later,
			Error: "exit status 3", Output: &output, Truncated: true},
		{ID: "7", Name: "e", Delay: "0s", State: "done", Worker: 2, EnqueuedAt: at, StartedAt: at, FinishedAt: later, Attempts: 1, Output: &empty},
		{ID: "8", Name: "p", Delay: "0s", Retries: &zero, State: "queued", EnqueuedAt: at},
		{ID: "9", Name: "q", Delay: "0s", Retries: &three, Timeout: "1m30s", State: "queued", EnqueuedAt: at},
		{ID: "10", Name: "q", Delay: "0s", Timeout: "5s", State: "queued", EnqueuedAt: at},
	} {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(j); err != nil {
			t.Fatal(err)
		}
		if got := respond.AppendJob(nil, &j); string(got) != want.String() {
			t.Errorf("appendJSON:\n got %s\nwant %s", got, want.Bytes())
		}
	}
}
