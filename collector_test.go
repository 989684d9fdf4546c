package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

const (
	form      = formType
	textPlain = "text/plain"
)

// multipartBody returns a multipart form holding fields, and its content type.
func multipartBody(t testing.TB, fields ...string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		if err := mw.WriteField(fields[i], fields[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String(), mw.FormDataContentType()
}

// validationCase is a POST /work and what it must get.
type validationCase struct {
	name        string
	method      string // POST if empty
	target      string // /work if empty
	contentType string
	body        string
	wantStatus  int
	wantName    string // of the queued job, for 201
	wantDelay   string // of the queued job, for 201
	wantErr     string // part of the error message, otherwise
}

// validationCases returns a case for every row of SPEC.md's outcome table
// for POST /work, except the two 503s, which have tests of their own.
func validationCases(t testing.TB) []validationCase {
	long := strings.Repeat("a", maxNameBytes)
	big := strings.Repeat("a", maxBodyBytes)
	mpBody, mpType := multipartBody(t, "name", "Multi", "delay", "1s")
	mpBig, mpBigType := multipartBody(t, "name", big)
	return []validationCase{
		{name: "query", target: "/work?name=Alice&delay=2s", wantStatus: 201, wantName: "Alice", wantDelay: "2s"},
		{name: "form", contentType: form, body: "name=Bob&delay=250ms", wantStatus: 201, wantName: "Bob", wantDelay: "250ms"},
		{name: "json", contentType: jsonType, body: `{"name": "Carol", "delay": "1.5s"}`, wantStatus: 201, wantName: "Carol", wantDelay: "1.5s"},
		{name: "json with charset", contentType: jsonType + "; charset=utf-8", body: `{"name": "Dan"}`, wantStatus: 201, wantName: "Dan", wantDelay: "0s"},
		{name: "multipart", contentType: mpType, body: mpBody, wantStatus: 201, wantName: "Multi", wantDelay: "1s"},
		{name: "body wins over query", target: "/work?name=Q&delay=1s", contentType: form, body: "name=B", wantStatus: 201, wantName: "B", wantDelay: "1s"},
		{name: "no delay is zero", target: "/work?name=Z", wantStatus: 201, wantName: "Z", wantDelay: "0s"},
		{name: "unicode name", target: "/work?name=%C3%89lodie%20%F0%9F%90%B9", wantStatus: 201, wantName: "Élodie 🐹", wantDelay: "0s"},
		{name: "name of 1024 bytes", contentType: form, body: "name=" + long, wantStatus: 201, wantName: long, wantDelay: "0s"},
		{name: "delay at the maximum", target: "/work?name=M&delay=10s", wantStatus: 201, wantName: "M", wantDelay: "10s"},

		{name: "name missing", target: "/work", wantStatus: 400, wantErr: "name is required"},
		{name: "name empty", target: "/work?name=", wantStatus: 400, wantErr: "name is required"},
		{name: "name empty in body", target: "/work?name=Q", contentType: form, body: "name=", wantStatus: 400, wantErr: "name is required"},
		{name: "name too long", contentType: form, body: "name=a" + long, wantStatus: 400, wantErr: "1025 bytes long; the limit is 1024"},
		{name: "name not UTF-8", target: "/work?name=%FF%FE", wantStatus: 400, wantErr: "not valid UTF-8"},
		{name: "name with newline", target: "/work?name=a%0Aworker1:%20Hello,%20forged!", wantStatus: 400, wantErr: "control character (U+000A)"},
		{name: "name with carriage return", target: "/work?name=a%0Db", wantStatus: 400, wantErr: "control character (U+000D)"},
		{name: "name with tab", target: "/work?name=a%09b", wantStatus: 400, wantErr: "control character (U+0009)"},
		{name: "name with NUL", target: "/work?name=a%00b", wantStatus: 400, wantErr: "control character (U+0000)"},
		{name: "name with DEL", target: "/work?name=a%7F", wantStatus: 400, wantErr: "control character (U+007F)"},
		{name: "name with C1 control", target: "/work?name=a%C2%85", wantStatus: 400, wantErr: "control character (U+0085)"},
		{name: "name with escape in JSON", contentType: jsonType, body: `{"name": "a\u001b[31m"}`, wantStatus: 400, wantErr: "control character (U+001B)"},
		{name: "delay not a duration", target: "/work?name=A&delay=abc", wantStatus: 400, wantErr: `delay "abc" is not a duration`},
		{name: "delay without unit", target: "/work?name=A&delay=5", wantStatus: 400, wantErr: `delay "5" is not a duration`},
		{name: "delay negative", target: "/work?name=A&delay=-1s", wantStatus: 400, wantErr: "delay -1s is negative"},
		{name: "delay above maximum", target: "/work?name=A&delay=10.001s", wantStatus: 400, wantErr: "above this server's maximum of 10s"},
		{name: "malformed query", target: "/work?name=%zz", wantStatus: 400, wantErr: "query string is malformed"},
		{name: "malformed form", contentType: form, body: "name=%zz", wantStatus: 400, wantErr: "form body is malformed"},
		{name: "malformed multipart", contentType: "multipart/form-data", body: "name=x", wantStatus: 400, wantErr: "form body is malformed"},
		{name: "malformed JSON", contentType: jsonType, body: `{"name": "A"`, wantStatus: 400, wantErr: "not valid JSON"},
		{name: "JSON syntax error", contentType: jsonType, body: `{name: A}`, wantStatus: 400, wantErr: "not valid JSON"},
		{name: "JSON name wrong type", contentType: jsonType, body: `{"name": 5}`, wantStatus: 400, wantErr: `JSON field "name" must be a string, not number`},
		{name: "JSON delay wrong type", contentType: jsonType, body: `{"name": "A", "delay": 2}`, wantStatus: 400, wantErr: `JSON field "delay" must be a string, not number`},
		{name: "JSON not an object", contentType: jsonType, body: `["A"]`, wantStatus: 400, wantErr: "must be an object"},
		{name: "JSON unknown field", contentType: jsonType, body: `{"nmae": "A"}`, wantStatus: 400, wantErr: `may hold only "name" and "delay", not "nmae"`},
		{name: "JSON field in another case", contentType: jsonType, body: `{"NAME": "A"}`, wantStatus: 400, wantErr: `may hold only "name" and "delay", not "NAME"`},
		{name: "JSON two values", contentType: jsonType, body: `{"name": "A"} {"name": "B"}`, wantStatus: 400, wantErr: "more than one value"},
		{name: "JSON not UTF-8", contentType: jsonType, body: "{\"name\": \"\xff\"}", wantStatus: 400, wantErr: "not valid UTF-8"},

		{name: "form body too large", contentType: form, body: "name=" + big, wantStatus: 413, wantErr: "larger than 64 KiB"},
		{name: "JSON body too large", contentType: jsonType, body: `{"name": "` + big + `"}`, wantStatus: 413, wantErr: "larger than 64 KiB"},
		{name: "multipart body too large", contentType: mpBigType, body: mpBig, wantStatus: 413, wantErr: "larger than 64 KiB"},

		{name: "text body", contentType: textPlain, body: "Alice", wantStatus: 415, wantErr: `Content-Type "text/plain" is not supported`},
		{name: "XML body", contentType: "application/xml", body: "<name>A</name>", wantStatus: 415, wantErr: "is not supported"},
		{name: "body without content type", body: "name=Alice", wantStatus: 415, wantErr: "the body has no Content-Type"},

		{name: "GET with a job's parameters", method: "GET", target: "/work?name=A", wantStatus: 400, wantErr: "submit a job with POST /work"},
		{name: "PUT", method: "PUT", target: "/work?name=A", wantStatus: 405, wantErr: "PUT is not allowed here; use GET, POST"},
		{name: "DELETE", method: "DELETE", target: "/work", wantStatus: 405, wantErr: "use GET, POST"},
	}
}

// TestCollectorValidation checks every row of SPEC.md's outcome table for
// POST /work, except the two 503s, which have tests of their own.
func TestCollectorValidation(t *testing.T) {
	tests := validationCases(t)
	ts := newTestServer(t, testConfig(), newGate(nil).work)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, target := cmp.Or(tt.method, "POST"), cmp.Or(tt.target, "/work")
			before := ts.stats.Accepted.Load()
			rec := ts.do(method, target, tt.contentType, tt.body)
			if rec.Code != tt.wantStatus {
				t.Fatalf("%s %s: status = %d, want %d; body %s", method, target, rec.Code, tt.wantStatus, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if tt.wantStatus != http.StatusCreated {
				if got := decodeError(t, rec.Body.Bytes()); !strings.Contains(got, tt.wantErr) {
					t.Errorf("error = %q, want it to contain %q", got, tt.wantErr)
				}
				if got := ts.stats.Accepted.Load(); got != before {
					t.Errorf("accepted count went from %d to %d for a refused request", before, got)
				}
				if tt.wantStatus == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, POST" {
					t.Errorf("Allow = %q, want GET, POST", rec.Header().Get("Allow"))
				}
				return
			}
			j := decodeJob(t, rec.Body.Bytes())
			if j.Name != tt.wantName || j.Delay != tt.wantDelay {
				t.Errorf("job name, delay = %q, %q; want %q, %q", j.Name, j.Delay, tt.wantName, tt.wantDelay)
			}
			if loc := rec.Header().Get("Location"); loc != "/work/"+j.ID || j.ID == "" {
				t.Errorf("Location = %q for job id %q", loc, j.ID)
			}
			if j.State != "queued" && j.State != "running" {
				t.Errorf("state = %q, want queued or running", j.State)
			}
		})
	}
}

// TestFullQueueAnswers503 fills WorkQueue while every worker is held, and
// checks the next submission is refused with 503 and Retry-After at once.
// It runs in a synctest bubble: had the handler blocked waiting for room,
// every goroutine would be stuck and the bubble would report a deadlock.
func TestFullQueueAnswers503(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.workers, cfg.queue = 2, 3
		g := newGate(nil)
		ts := newTestServer(t, cfg, g.work)

		// Two jobs occupy the workers; three wait and fill the queue: the
		// dispatcher holds the first of them while it waits for a worker.
		for i := range cfg.workers + cfg.queue {
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
		if len(names) != cfg.workers+cfg.queue {
			t.Errorf("%d greetings, want %d: %q", len(names), cfg.workers+cfg.queue, names)
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

// TestChunkedBodyTooLarge checks a body of unknown length, sent chunked, is
// cut off at 64 KiB with 413, as one whose length is given is refused
// before it is read.
func TestChunkedBodyTooLarge(t *testing.T) {
	ts := newTestServer(t, testConfig(), Sleep)
	for _, size := range []int{maxBodyBytes - 10, maxBodyBytes + 1} {
		body := io.MultiReader(strings.NewReader("name="), strings.NewReader(strings.Repeat("a", size-5)))
		req := httptest.NewRequest("POST", "/work", body)
		req.ContentLength = -1
		req.Header.Set("Content-Type", form)
		rec := httptest.NewRecorder()
		ts.handler.ServeHTTP(rec, req)
		want := http.StatusBadRequest // a name that long is refused, once read
		if size > maxBodyBytes {
			want = http.StatusRequestEntityTooLarge
		}
		if rec.Code != want {
			t.Errorf("chunked body of %d bytes: status %d, want %d; %s", size, rec.Code, want, rec.Body)
		}
	}
}

// sentName returns the name a POST /work carried, read with the standard
// library's own parsers, independently of the Collector: the body's, where
// the body has one, else the query's.
func sentName(contentType, query string, body []byte) string {
	q, _ := url.ParseQuery(query)
	name := q.Get("name")
	mediaType, _, _ := mime.ParseMediaType(contentType)
	switch mediaType {
	case formType, multipartType:
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.ParseMultipartForm(maxBodyBytes)
		if v, ok := r.PostForm["name"]; ok {
			name = v[0]
		}
	case jsonType:
		var v map[string]any
		if json.Unmarshal(body, &v) == nil {
			if s, ok := v["name"].(string); ok {
				name = s
			}
		}
	}
	return name
}

// FuzzCollector drives the real handler with arbitrary methods, content
// types, queries and bodies. It never panics and answers only 201, 400,
// 405, 413, 415 or 503, always in JSON; a 201 carries a well-formed job
// whose name is exactly the one sent. Seeded with every validation case.
// make test fuzzes it for a few seconds; make stress for minutes.
func FuzzCollector(f *testing.F) {
	for _, c := range validationCases(f) {
		target := cmp.Or(c.target, "/work")
		_, query, _ := strings.Cut(target, "?")
		f.Add(cmp.Or(c.method, "POST"), c.contentType, query, []byte(c.body))
	}
	cfg := testConfig()
	cfg.logLevel = slog.LevelError
	noop := func(context.Context, *WorkRequest) error { return nil }
	s := newServer(cfg, noop, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.start()
	f.Cleanup(func() { s.drain(context.Background()) })

	allowed := map[int]bool{201: true, 400: true, 405: true, 413: true, 415: true, 503: true}
	f.Fuzz(func(t *testing.T, method, contentType, query string, body []byte) {
		if !validMethod(method) {
			return // no client can send it
		}
		req := &http.Request{
			Method:        method,
			URL:           &url.URL{Path: "/work", RawQuery: query},
			Header:        http.Header{},
			Body:          io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)),
			RequestURI:    "/work?" + query,
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("%s /work?%q (%q, %q): status %d", method, query, contentType, body, rec.Code)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d with a body that is not JSON: %q", rec.Code, rec.Body)
		}
		if rec.Code != http.StatusCreated {
			return
		}
		j := decodeJob(t, rec.Body.Bytes())
		if want := sentName(contentType, query, body); j.Name != want {
			t.Fatalf("job name %q, want the name sent, %q", j.Name, want)
		}
		if err := checkName(j.Name); err != nil {
			t.Fatalf("accepted a name it should refuse: %v", err)
		}
		if _, err := time.ParseDuration(j.Delay); err != nil || j.ID == "" || rec.Header().Get("Location") != "/work/"+j.ID {
			t.Fatalf("malformed job %+v, Location %q", j, rec.Header().Get("Location"))
		}
	})
}

// validMethod reports whether m is a token, as an HTTP method must be.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range []byte(m) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
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
	if got := len(ts.out.lines()); got != 3 {
		t.Errorf("%d lines on stdout, want one per job: %q", got, ts.out.lines())
	}
}
