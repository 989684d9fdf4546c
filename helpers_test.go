package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"workqueue/internal/config"
	"workqueue/internal/job"
	"workqueue/internal/testutil"
)

// testConfig is the configuration tests start from: the defaults, on any
// free port, logging every job event.
func testConfig() config.Config {
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.LogLevel = slog.LevelDebug
	return cfg
}

// testServer is a started server with its output captured.
type testServer struct {
	*server
	out  *testutil.SyncBuffer // standard output: the greetings
	logs *testutil.SyncBuffer // standard error: the log
}

// newTestServer starts a server built from cfg and work. When the test
// ends, if the test has not drained it, it abandons the jobs still
// unfinished, so held jobs do not hold the test.
func newTestServer(t *testing.T, cfg config.Config, work Work) *testServer {
	t.Helper()
	ts := &testServer{out: new(testutil.SyncBuffer), logs: new(testutil.SyncBuffer)}
	log := slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ts.server = newServer(cfg, work, ts.out, log)
	ts.start()
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ts.drain(ctx)
	})
	return ts
}

// do sends a request straight to the server's handler.
func (ts *testServer) do(method, target, contentType, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	ts.handler.ServeHTTP(rec, req)
	return rec
}

// submit posts a job with the given name and delay as a form and returns the
// response.
func (ts *testServer) submit(name, delay string) *httptest.ResponseRecorder {
	body := "name=" + urlEscape(name) + "&delay=" + urlEscape(delay)
	return ts.do("POST", "/work", "application/x-www-form-urlencoded", body)
}

func urlEscape(s string) string {
	r := strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", "=", "%3D", " ", "+")
	return r.Replace(s)
}

// decodeJob decodes a job from a response body.
func decodeJob(t *testing.T, body []byte) job.View {
	t.Helper()
	var j job.View
	if err := json.Unmarshal(body, &j); err != nil {
		t.Fatalf("decoding job %q: %v", body, err)
	}
	return j
}

// decodeError returns the "error" field of a response body.
func decodeError(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("decoding error body %q: %v", body, err)
	}
	return e.Error
}

// gate is a Work that holds every job until the test opens it, telling the
// test on started (if not nil) as each job begins.
type gate struct {
	open    chan struct{}
	started chan *WorkRequest
}

func newGate(started chan *WorkRequest) *gate {
	return &gate{open: make(chan struct{}), started: started}
}

func (g *gate) work(ctx context.Context, r *WorkRequest) error {
	if g.started != nil {
		select {
		case g.started <- r:
		case <-ctx.Done(): // nobody listens any more: the test is ending
			return ctx.Err()
		}
	}
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// greetings returns the names greeted in out, in order, and checks each
// line has the form the SPEC gives.
func greetings(t *testing.T, out *testutil.SyncBuffer) []string {
	t.Helper()
	var names []string
	for _, line := range out.Lines() {
		_, rest, ok := strings.Cut(line, ": Hello, ")
		if !ok || !strings.HasPrefix(line, "worker") || !strings.HasSuffix(rest, "!") {
			t.Fatalf("stdout line %q is not a greeting", line)
		}
		names = append(names, strings.TrimSuffix(rest, "!"))
	}
	return names
}
