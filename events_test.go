package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/testutil"
)

func TestStatsEvent(t *testing.T) {
	cfg := testConfig()
	cfg.Workers, cfg.Queue = 2, 10
	started := make(chan *job.Job, 5) // room for every job: none blocks telling the test
	g := newGate(started)
	ts := newTestServer(t, cfg, g.work)
	for i := range 5 {
		if rec := ts.submit("job"+strconv.Itoa(i), "0s"); rec.Code != http.StatusCreated {
			t.Fatalf("POST /work: status = %d, want 201", rec.Code)
		}
	}
	<-started
	<-started // both workers busy; the third job is held by the dispatcher
	var got map[string]int64
	if err := json.Unmarshal(ts.api.StatsEvent(), &got); err != nil {
		t.Fatalf("stats event %q: %v", ts.api.StatsEvent(), err)
	}
	// Of the 3 jobs not started, the dispatcher may or may not hold one.
	if q := got["queue_length"]; q < 2 || q > 3 {
		t.Errorf("stats queue_length = %d, want 2 or 3", q)
	}
	want := map[string]int64{"queue_length": got["queue_length"], "queue_capacity": 10, "workers": 2,
		"busy": 2, "accepted": 5, "done": 0, "canceled": 0, "failed": 0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("stats %s = %d, want %d", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("stats has %d fields, want %d: %v", len(got), len(want), got)
	}
	close(g.open)
}

// TestEventsStuckSubscriberDuringFlood runs 20,000 no-op jobs on a real
// server while a subscriber that never reads is connected: every job must
// finish, the subscriber must be dropped and its connection ended, and the
// goroutines must return to what they were.
func TestEventsStuckSubscriberDuringFlood(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := testConfig()
	cfg.LogLevel = slog.LevelInfo // 20,000 lines of debug log would be most of the work
	cfg.Workers, cfg.Queue = 4, 20_000
	ts := newTestServer(t, cfg, Sleep)
	srv, closed := testutil.StuckServer(t, ts.handler)
	defer srv.Close()
	conn := testutil.DialStuck(t, srv.Listener.Addr().String())
	defer conn.Close()
	testutil.WaitFor(t, "the stuck client to subscribe", func() bool { return ts.events.Subscribers() == 1 })

	for i := range 20_000 {
		if rec := ts.submit("n"+strconv.Itoa(i), "0s"); rec.Code != http.StatusCreated {
			t.Fatalf("POST /work %d: status = %d, want 201", i, rec.Code)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ts.drain(ctx); err != nil {
		t.Fatalf("drain with a stuck subscriber: %v", err)
	}
	if got := ts.stats.Done.Load(); got != 20_000 {
		t.Fatalf("jobs done = %d, want 20000", got)
	}
	if got := ts.events.Dropped(); got != 1 {
		t.Fatalf("subscribers dropped = %d, want 1", got)
	}
	testutil.WaitClosed(t, closed)
	conn.Close()
	srv.Close()
	testutil.WaitFor(t, fmt.Sprintf("goroutines back to %d", before), func() bool { return runtime.NumGoroutine() <= before })
}

// TestBinaryDrainEndsStreams checks that a drain ends every /events stream
// cleanly, so that the HTTP server's graceful shutdown is not held by them
// and the process exits 0.
func TestBinaryDrainEndsStreams(t *testing.T) {
	p := startBinary(t, "-shutdown-timeout", "20s")
	r := testutil.OpenStream(t, p.url, "")
	testutil.NextOf(t, r, "stats")
	if code := p.submit(t, "last", "200ms"); code != http.StatusCreated {
		t.Fatalf("POST /work: status = %d, want 201", code)
	}
	p.signal(t, syscall.SIGTERM)
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("the stream after SIGTERM: %v (read %q), want a clean end", err, rest)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status = %d, want 0\nstderr:\n%s", code, p.stderr)
	}
	if !strings.Contains(p.stdout.String(), "Hello, last!") {
		t.Errorf("stdout = %q, want the greeting of the job queued before the signal", p.stdout)
	}
}
