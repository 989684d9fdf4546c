package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"

	"workqueue/internal/testutil"
)

// serveOne sends one request straight to s's handler.
func serveOne(s *server, method, target, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec
}

// TestGreetingStuck runs jobs whose greetings cannot be written (standard
// output nobody reads): the API still answers every request, a cancel of a
// job whose line is being written is refused with 409, and a drain that gives
// up returns, failing the jobs it abandoned.
func TestGreetingStuck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := testutil.NewBlockingWriter()
		cfg := testConfig()
		cfg.Workers = 2
		s := newServer(cfg, Sleep, w, slog.New(slog.DiscardHandler))
		s.start()
		for _, name := range []string{"first", "second", "third"} {
			if rec := serveOne(s, "POST", "/work", "name="+name); rec.Code != http.StatusCreated {
				t.Fatalf("POST %s: status %d, want 201: %s", name, rec.Code, rec.Body)
			}
		}
		synctest.Wait() // one job's worker is stuck writing, the other's waits for it, "third" for a worker

		for _, tt := range []struct {
			method, target string
			status         int
			want           string
		}{
			{"GET", "/work/1", http.StatusOK, `"state":"running"`},
			{"DELETE", "/work/1", http.StatusConflict, "its greeting is being written"},
			{"DELETE", "/work/2", http.StatusConflict, "its greeting is being written"},
			{"DELETE", "/work/3", http.StatusOK, `"state":"canceled"`},
			{"GET", "/healthz", http.StatusOK, "ok"},
			{"POST", "/work", http.StatusCreated, `"state":"queued"`},
		} {
			body := ""
			if tt.method == "POST" {
				body = "name=fourth"
			}
			rec := serveOne(s, tt.method, tt.target, body)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("%s %s = %d %s, want %d and %q", tt.method, tt.target, rec.Code, rec.Body, tt.status, tt.want)
			}
		}

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := s.drain(ctx) // gives up at once; the writing worker stays stuck
		var ab *abandonedError
		if !errors.As(err, &ab) || ab.jobs != 3 || strings.Join(ab.ids, ",") != "1,2,4" || ab.more != 0 {
			t.Errorf("drain = %#v, want 3 abandoned, ids 1,2,4", err)
		}
		w.Release <- nil // the stuck write ends, for the bubble
		synctest.Wait()
		states := map[string]int{}
		for _, id := range []string{"1", "2"} {
			j := s.jobs.Get(id).Snapshot()
			states[j.State+" "+j.Error]++
		}
		if states["done "] != 1 || states["failed "+errAbandoned.Error()] != 1 {
			t.Errorf("jobs 1 and 2 ended %v, want one done (its line written) and one failed as abandoned", states)
		}
		if got := w.Written(); len(got) != 1 {
			t.Errorf("writes = %q, want one: an abandoned job's line is not written", got)
		}
	})
}

// TestGreetingBrokenPipe runs jobs whose standard output has no reader
// left: each fails with the write's error, the server keeps serving, and
// the failure is logged once.
func TestGreetingBrokenPipe(t *testing.T) {
	var logs testutil.SyncBuffer
	s := newServer(testConfig(), Sleep, testutil.FailingWriter{Err: syscall.EPIPE}, slog.New(slog.NewTextHandler(&logs, nil)))
	s.start()
	for _, name := range []string{"a", "b", "c"} {
		if rec := serveOne(s, "POST", "/work", "name="+name); rec.Code != http.StatusCreated {
			t.Fatalf("POST %s: status %d, want 201", name, rec.Code)
		}
	}
	if err := s.drain(t.Context()); err != nil {
		t.Fatalf("drain = %v, want nil: every job finished, failed", err)
	}
	for _, id := range []string{"1", "2", "3"} {
		j := s.jobs.Get(id).Snapshot()
		if j.State != "failed" || !strings.Contains(j.Error, "broken pipe") {
			t.Errorf("job %s = %s %q, want failed with the broken pipe", id, j.State, j.Error)
		}
	}
	if got := s.stats.Failed.Load(); got != 3 {
		t.Errorf("failed = %d, want 3", got)
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d error lines logged, want 1, the broken pipe once:\n%s", n, logs.String())
	}
}
