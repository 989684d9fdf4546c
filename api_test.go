package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// getJob fetches a job through GET /work/{id}, failing the test unless it
// answers 200.
func (ts *testServer) getJob(t *testing.T, id string) job {
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
		cfg.workers = 1
		ts := newTestServer(t, cfg, panicky)
		first := ts.submitID(t, "first", "1s")
		queued := ts.submitID(t, "second", "2s")
		toCancel := ts.submitID(t, "third", "5s")
		failing := ts.submitID(t, "boom", "0s")
		synctest.Wait()

		j := ts.getJob(t, queued)
		if j.State != "queued" || j.Worker != 0 || j.StartedAt != nil || j.FinishedAt != nil {
			t.Errorf("waiting behind another job: %+v, want queued, no worker, start or finish", j)
		}
		time.Sleep(1500 * time.Millisecond)
		if j := ts.getJob(t, first); j.State != "done" || j.FinishedAt == nil {
			t.Errorf("after its delay: %+v, want done with finished_at", j)
		}
		j = ts.getJob(t, queued)
		if j.State != "running" || j.Worker != 1 || j.StartedAt == nil || j.FinishedAt != nil {
			t.Fatalf("on its worker: %+v, want running on worker 1, started, not finished", j)
		}
		time.Sleep(2 * time.Second)
		j = ts.getJob(t, queued)
		if j.State != "done" || j.FinishedAt == nil || j.FinishedAt.Sub(*j.StartedAt) != 2*time.Second ||
			!j.EnqueuedAt.Before(*j.StartedAt) {
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
		if j.State != "canceled" || j.Worker != 1 || j.StartedAt == nil || j.FinishedAt == nil ||
			!j.FinishedAt.Equal(canceledAt) || !j.StartedAt.Before(canceledAt) {
			t.Errorf("canceled while running: %+v, want canceled at %v, after its start", j, canceledAt)
		}

		synctest.Wait() // the panicking job has run
		j = ts.getJob(t, failing)
		if j.State != "failed" || !strings.Contains(j.Error, "panic: boom went the work") || j.FinishedAt == nil ||
			j.FinishedAt.Before(*j.StartedAt) {
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
		cfg.workers = 1
		ts := newTestServer(t, cfg, Sleep)
		var ids []string
		for _, name := range []string{"a", "b", "c", "d", "e"} {
			ids = append(ids, ts.submitID(t, name, "1s"))
		}
		synctest.Wait()
		for _, id := range []string{ids[1], ids[3]} {
			rec := ts.do("DELETE", "/work/"+id, "", "")
			j := decodeJob(t, rec.Body.Bytes())
			if rec.Code != http.StatusOK || j.State != "canceled" || j.StartedAt != nil || j.FinishedAt == nil {
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
		cfg.workers = 1
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
	for _, j := range []job{
		{ID: "1", Name: "Alice", Delay: "0s", State: "queued", EnqueuedAt: at},
		{ID: "2", Name: `Bob "the <b>" & \co`, Delay: "2s", State: "running", Worker: 3, EnqueuedAt: at, StartedAt: &at},
		{ID: "3", Name: "Élodie 🐹 \u2028\u2029", Delay: "1.5s", State: "done", Worker: 12, EnqueuedAt: at, StartedAt: &at, FinishedAt: &later},
		{ID: "4", Name: "x", Delay: "10ms", State: "failed", Worker: 1, EnqueuedAt: at, StartedAt: &at, FinishedAt: &later,
			Error: "panic: bad \xff byte\n\ttab"},
		{ID: "5", Name: "~!#$%^*()_+{}|:?,./;'[]=-`", Delay: "0s", State: "canceled", EnqueuedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	} {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(j); err != nil {
			t.Fatal(err)
		}
		if got := j.appendJSON(nil); string(got) != want.String() {
			t.Errorf("appendJSON:\n got %s\nwant %s", got, want.Bytes())
		}
	}
}

// TestNonCanonicalPaths checks that a path http.ServeMux would clean and
// redirect gets its redirect with a JSON body, keeps its query, and makes
// no job.
func TestNonCanonicalPaths(t *testing.T) {
	ts := newTestServer(t, testConfig(), Sleep)
	tests := []struct {
		name, method, target, wantLocation string
	}{
		{"double slash", "POST", "//work?name=A", "/work?name=A"},
		{"dot-dot", "POST", "/work/../work?name=A&delay=1s", "/work?name=A&delay=1s"},
		{"dot", "POST", "/./work", "/work"},
		{"trailing dot", "POST", "/work/.", "/work"},
		{"double slash inside", "GET", "/work//1", "/work/1"},
		{"many slashes", "DELETE", "///work///1", "/work/1"},
		{"health", "GET", "/healthz/../healthz", "/healthz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := ts.do(tt.method, tt.target, form, "name=B")
			if rec.Code != http.StatusTemporaryRedirect {
				t.Fatalf("%s %s: status = %d, want 307; %s", tt.method, tt.target, rec.Code, rec.Body)
			}
			if got := rec.Header().Get("Location"); got != tt.wantLocation {
				t.Errorf("Location = %q, want %q", got, tt.wantLocation)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if got := decodeError(t, rec.Body.Bytes()); !strings.Contains(got, "the path is") {
				t.Errorf("error = %q, want it to name the path to use", got)
			}
		})
	}
	if got := ts.stats.Accepted.Load(); got != 0 {
		t.Errorf("accepted = %d after redirects only, want 0", got)
	}
	// Clean paths, and paths with dots that are not elements, are served.
	for _, target := range []string{"/work/.x", "/.well-known"} {
		if rec := ts.do("GET", target, "", ""); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status = %d, want 404", target, rec.Code)
		}
	}
}

// TestEchoesAreBounded sends inputs of 60 KB wherever an error message
// quotes what the client sent, and checks each message quotes a short
// prefix only.
func TestEchoesAreBounded(t *testing.T) {
	ts := newTestServer(t, testConfig(), Sleep)
	huge := strings.Repeat("9", 60<<10)
	tests := []struct {
		name, method, target, contentType, body, encoding string
	}{
		{name: "job id", method: "GET", target: "/work/" + huge},
		{name: "job id to cancel", method: "DELETE", target: "/work/" + huge},
		{name: "unknown path", method: "GET", target: "/" + huge},
		{name: "method", method: strings.Repeat("X", 60<<10), target: "/work"},
		{name: "delay", method: "POST", target: "/work?name=A&delay=" + huge},
		{name: "delay in JSON", method: "POST", contentType: jsonType, body: `{"name":"A","delay":"` + huge + `"}`},
		{name: "JSON key", method: "POST", contentType: jsonType, body: `{"` + huge + `":"A"}`},
		{name: "after the JSON object", method: "POST", contentType: jsonType, body: `{"name":"A"}` + huge},
		{name: "content type", method: "POST", contentType: "text/" + huge, body: "x"},
		{name: "content encoding", method: "POST", contentType: form, body: "name=A", encoding: "x" + huge},
		{name: "non-canonical path", method: "GET", target: "//" + huge},
		{name: "multipart header line", method: "POST", contentType: "multipart/form-data; boundary=x", body: "--x\r\n" + huge[:50<<10] + "\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, cmp.Or(tt.target, "/work"), strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			rec := httptest.NewRecorder()
			ts.handler.ServeHTTP(rec, req)
			msg := decodeError(t, rec.Body.Bytes())
			if len(msg) > 400 || !strings.Contains(msg, "…") {
				t.Errorf("status %d, error of %d bytes, want a short prefix with …: %.500q", rec.Code, len(msg), msg)
			}
		})
	}
}

// TestClip checks clip cuts long input at a character boundary.
func TestClip(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{strings.Repeat("a", maxEcho), strings.Repeat("a", maxEcho)},
		{strings.Repeat("a", maxEcho+1), strings.Repeat("a", maxEcho) + "…"},
		{strings.Repeat("a", maxEcho-1) + "é", strings.Repeat("a", maxEcho-1) + "…"},
		{strings.Repeat("a", maxEcho-2) + "😀", strings.Repeat("a", maxEcho-2) + "…"},
	}
	for _, tt := range tests {
		if got := clip(tt.in); got != tt.want {
			t.Errorf("clip(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
