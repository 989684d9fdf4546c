package main

import (
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
)

// TestFullQueueAnswers503 fills WorkQueue while every worker is held, and
// checks the next submission is refused with 503 and Retry-After at once.
// It runs in a synctest bubble: had the handler blocked waiting for room,
// every goroutine would be stuck and the bubble would report a deadlock.
func TestFullQueueAnswers503(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers, cfg.Queue = 2, 3
		g := newGate(nil)
		ts := newTestServer(t, cfg, g.work)

		// Two jobs occupy the workers; three wait and fill the queue: the
		// dispatcher holds the first of them while it waits for a worker.
		for i := range cfg.Workers + cfg.Queue {
			if rec := ts.submit("job"+string(rune('A'+i)), ""); rec.Code != http.StatusCreated {
				t.Fatalf("submission %d: status = %d, want 201", i, rec.Code)
			}
			synctest.Wait()
		}
		for range 100 {
			rec := ts.submit("overflow", "")
			if rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("POST to a full queue: status = %d, want 503", rec.Code)
			}
			if ra := rec.Header().Get("Retry-After"); ra != "1" {
				t.Fatalf("Retry-After = %q, want 1", ra)
			}
			if got := decodeError(t, rec.Body.Bytes()); !strings.Contains(got, "queue is full") {
				t.Fatalf("error = %q, want it to say the queue is full", got)
			}
		}
		if got := ts.stats.RejectedFull.Load(); got != 100 {
			t.Errorf("rejected (full) = %d, want 100", got)
		}
		close(g.open)
		if err := ts.drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		names := greetings(t, ts.out)
		if len(names) != cfg.Workers+cfg.Queue {
			t.Errorf("%d greetings, want %d: %q", len(names), cfg.Workers+cfg.Queue, names)
		}
		for _, n := range names {
			if n == "overflow" {
				t.Errorf("a refused job ran")
			}
		}
	})
}

// TestDrainingAnswers503 checks that once a drain starts, submissions are
// refused with 503 and /healthz reports draining, while job lookups still
// answer.
func TestDrainingAnswers503(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := newTestServer(t, testConfig(), Sleep)
		if rec := ts.do("GET", "/healthz", "", ""); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"ok"`) {
			t.Fatalf("GET /healthz before drain: %d %s, want 200 ok", rec.Code, rec.Body)
		}
		rec := ts.submit("slow", "5s")
		id := decodeJob(t, rec.Body.Bytes()).ID
		drained := make(chan error)
		go func() { drained <- ts.drain(t.Context()) }()
		synctest.Wait()

		rec = ts.submit("late", "")
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
			t.Errorf("POST while draining: status %d, Retry-After %q; want 503, 1", rec.Code, rec.Header().Get("Retry-After"))
		}
		if got := decodeError(t, rec.Body.Bytes()); !strings.Contains(got, "shutting down") {
			t.Errorf("error = %q, want it to say the server is shutting down", got)
		}
		if rec := ts.do("GET", "/healthz", "", ""); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"draining"`) {
			t.Errorf("GET /healthz while draining: %d %s, want 503 draining", rec.Code, rec.Body)
		}
		if rec := ts.do("GET", "/work/"+id, "", ""); rec.Code != http.StatusOK || decodeJob(t, rec.Body.Bytes()).State != "running" {
			t.Errorf("GET /work/%s while draining: %d %s, want 200 running", id, rec.Code, rec.Body)
		}
		if err := <-drained; err != nil {
			t.Fatal(err)
		}
		if got := greetings(t, ts.out); len(got) != 1 || got[0] != "slow" {
			t.Errorf("greetings = %q, want just slow", got)
		}
		if got := ts.stats.RejectedDraining.Load(); got != 1 {
			t.Errorf("rejected (draining) = %d, want 1", got)
		}
	})
}

// TestNamesCannotForgeLogLines submits names built to look like more log
// attributes or lines; the debug log quotes each as one value.
func TestNamesCannotForgeLogLines(t *testing.T) {
	ts := newTestServer(t, testConfig(), Sleep)
	for _, name := range []string{`Bob id=99 level=ERROR`, `x" msg="forged`, `worker1: Hello, Eve!`} {
		if rec := ts.submit(name, ""); rec.Code != http.StatusCreated {
			t.Fatalf("POST %q: status %d, want 201", name, rec.Code)
		}
	}
	if err := ts.drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	logs := ts.logs.String()
	for _, want := range []string{`name="Bob id=99 level=ERROR"`, `name="x\" msg=\"forged"`, `name="worker1: Hello, Eve!"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks the quoted %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "level=ERROR msg") || strings.Contains(logs, `msg="forged"`) {
		t.Errorf("a name forged part of a log line:\n%s", logs)
	}
	if got := len(ts.out.Lines()); got != 3 {
		t.Errorf("%d lines on stdout, want one per job: %q", got, ts.out.Lines())
	}
}
