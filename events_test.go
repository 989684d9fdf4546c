package main

import (
	"bufio"
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
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(ts.api.StatsEvent(), &fields); err != nil {
		t.Fatalf("stats event %q: %v", ts.api.StatsEvent(), err)
	}
	var startedAt time.Time
	if err := json.Unmarshal(fields["started_at"], &startedAt); err != nil || startedAt.IsZero() ||
		startedAt.After(time.Now()) || startedAt.Location() != time.UTC || !startedAt.Equal(ts.stats.Started) {
		t.Errorf("stats started_at = %s (%v), want the server's start %s, in UTC", fields["started_at"], err, ts.stats.Started)
	}
	delete(fields, "started_at")
	got := make(map[string]int64)
	for k, v := range fields {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			t.Errorf("stats %s = %s, want a whole number", k, v)
		}
		got[k] = n
	}
	// Of the 3 jobs not started, the dispatcher may or may not hold one.
	if q := got["queue_length"]; q < 2 || q > 3 {
		t.Errorf("stats queue_length = %d, want 2 or 3", q)
	}
	want := map[string]int64{"queue_length": got["queue_length"], "queue_capacity": 10, "workers": 2,
		"busy": 2, "accepted": 5, "done": 0, "canceled": 0, "failed": 0, "remote_waiting": 0, "remote_running": 0}
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

// TestBinaryEventIDsAcrossRestart follows one server life's job events,
// restarts the binary on the same address (without and with -journal), lets
// the new life run two jobs, and reconnects with the old life's
// Last-Event-ID, as a browser's EventSource does: no id of the old life may
// come again, and the stream must say reset before anything else, then send
// the current state (the new life's jobs, done), then the id to go on from,
// never resume silently from the old id's number (hal0#785).
func TestBinaryEventIDsAcrossRestart(t *testing.T) {
	for _, journaled := range []bool{false, true} {
		t.Run(map[bool]string{false: "without journal", true: "with journal"}[journaled], func(t *testing.T) {
			t.Parallel()
			var args []string
			if journaled {
				args = []string{"-journal", t.TempDir(), "-fsync", "never"}
			}
			seen := map[string]bool{} // the job event ids of both lives
			p := startBinary(t, args...)
			r := testutil.OpenStream(t, p.url, "")
			if code := p.submit(t, "first", "0s"); code != http.StatusCreated {
				t.Fatalf("POST first: status = %d, want 201", code)
			}
			oldID := readJobEvents(t, r, 3, seen) // queued, running, done
			p.signal(t, syscall.SIGTERM)
			if code := p.wait(t, 10*time.Second); code != 0 {
				t.Fatalf("exit status = %d, want 0\nstderr:\n%s", code, p.stderr)
			}

			p = startBinary(t, append(args, "-http", strings.TrimPrefix(p.url, "http://"))...) // the same address
			r = testutil.OpenStream(t, p.url, "")
			for _, name := range []string{"second", "third"} {
				if code := p.submit(t, name, "0s"); code != http.StatusCreated {
					t.Fatalf("POST %s: status = %d, want 201", name, code)
				}
			}
			newID := readJobEvents(t, r, 6, seen) // two jobs' three each: no id of the first life again

			r = testutil.OpenStream(t, p.url, oldID)
			var first testutil.SSEEvent
			for first.Event == "" { // past the opening block, which carries only retry:
				ev, err := testutil.ReadEvent(r)
				if err != nil {
					t.Fatalf("reading the reconnected stream: %v", err)
				}
				if ev.ID != "" {
					t.Fatalf("reconnected with Last-Event-ID %q from another life: a block with id %q before any event, want event: reset first", oldID, ev.ID)
				}
				first = ev
			}
			if first.Event != "reset" {
				t.Fatalf("reconnected with Last-Event-ID %q from another life: first event %q (id %q, data %s), want reset: the new life's events were silently skipped", oldID, first.Event, first.ID, first.Data)
			}
			state := map[string]string{} // the jobs' states, by name, as the stream sent them
			for {
				ev, err := testutil.ReadEvent(r)
				if err != nil {
					t.Fatalf("reading the state after the reset: %v", err)
				}
				if ev.ID != "" {
					if ev.ID != newID || ev.Event != "" {
						t.Fatalf("after the state: block id %q event %q, want id %q alone (the newest)", ev.ID, ev.Event, newID)
					}
					break
				}
				if ev.Event != "job" {
					t.Fatalf("in the state after the reset: event %q, want job", ev.Event)
				}
				var j struct{ Name, State string }
				if err := json.Unmarshal([]byte(ev.Data), &j); err != nil {
					t.Fatalf("job in the state: %v in %q", err, ev.Data)
				}
				state[j.Name] = j.State
			}
			for _, name := range []string{"second", "third"} {
				if state[name] != "done" {
					t.Errorf("the state after the reset shows job %s as %q, want done (all: %v)", name, state[name], state)
				}
			}
			testutil.NextOf(t, r, "stats")
			if code := p.submit(t, "fourth", "0s"); code != http.StatusCreated {
				t.Fatalf("POST fourth: status = %d, want 201", code)
			}
			readJobEvents(t, r, 1, seen) // and the stream goes on in the new life
		})
	}
}

// readJobEvents reads the stream up to its nth job event and returns that
// event's id, failing the test if an id was seen before (adding each to
// seen).
func readJobEvents(t *testing.T, r *bufio.Reader, n int, seen map[string]bool) string {
	t.Helper()
	var id string
	for range n {
		ev := testutil.NextOf(t, r, "job")
		if ev.ID == "" || seen[ev.ID] {
			t.Fatalf("job event id %q (data %s): empty or seen before", ev.ID, ev.Data)
		}
		seen[ev.ID] = true
		id = ev.ID
	}
	return id
}
