package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"workqueue/internal/job"
	"workqueue/internal/submit"
	"workqueue/internal/testutil"
)

// payloads are payloads that must reach a command byte for byte: unicode,
// nested objects, a string with markup, white space inside kept as sent.
var payloads = []string{
	`{"w":640}`,
	`{"title": "<b>Ünïcødé ✓ 👩‍💻</b> & \"quotes\" \u2028", "nested": {"a": [1, 2.5e3, null, true, {"b": {}}]}}`,
	`"<script>alert(1)</script>"`,
	`[1,2,3]`,
	`42`,
}

// TestPayloadEncodings sends each payload in the query, a form, a JSON body
// and a multipart form, to a command that copies its standard input to its
// output: the command reads the payload as sent and a newline, GET
// /work/<id> shows it as sent, and the listing shows only its size.
func TestPayloadEncodings(t *testing.T) {
	t.Parallel()
	ts := commandServer(t, testConfig(), `cat`)
	for _, p := range payloads {
		mp, mpType := multipartBody(t, "name", "m", "payload", p)
		for _, enc := range []struct{ name, target, contentType, body string }{
			{"query", "/work?name=q&payload=" + url.QueryEscape(p), "", ""},
			{"form", "/work", form, url.Values{"name": {"f"}, "payload": {p}}.Encode()},
			{"form with a trailing newline", "/work", form, url.Values{"name": {"f"}, "payload": {p + "\n"}}.Encode()}, // curl --data-urlencode payload@file
			{"JSON", "/work", submit.JSONType, `{"name": "j", "payload": ` + p + `}`},
			{"multipart", "/work", mpType, mp},
		} {
			rec := ts.do("POST", enc.target, enc.contentType, enc.body)
			if rec.Code != http.StatusCreated {
				t.Fatalf("%s payload %s: status %d, want 201; %s", enc.name, p, rec.Code, rec.Body)
			}
			id := decodeJob(t, rec.Body.Bytes()).ID
			j := ts.waitJob(t, id, "final", final)
			if j.State != "done" || j.Output == nil || *j.Output != p+"\n" {
				t.Errorf("%s payload %s: job %+v, want done with the payload and a newline on standard input", enc.name, p, j)
			}
			if string(j.Payload) != p || j.PayloadBytes != 0 {
				t.Errorf("%s: GET /work/%s payload %s (payload_bytes %d), want %s as sent", enc.name, id, j.Payload, j.PayloadBytes, p)
			}
			rec = ts.do("GET", "/work?limit=1", "", "")
			if body := rec.Body.String(); strings.Contains(body, `"payload":`) || !strings.Contains(body, `"payload_bytes":`+strconv.Itoa(len(p))) {
				t.Errorf("%s: GET /work = %s, want payload_bytes %d and no payload", enc.name, body, len(p))
			}
		}
	}
}

// TestPayloadRefusals checks the payload's limits: 413 past -max-payload,
// naming it, in every encoding; 400 for a payload that is not JSON; and a
// body limit of -max-payload + 64 KiB.
func TestPayloadRefusals(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxPayload = 512
	ts := newTestServer(t, cfg, Sleep)
	big := `"` + strings.Repeat("x", 511) + `"` // 513 bytes
	mp, mpType := multipartBody(t, "name", "m", "payload", big)
	tests := []struct {
		name, target, contentType, body string
		status                          int
		want                            string
	}{
		{"query", "/work?name=a&payload=" + url.QueryEscape(big), "", "", 413, "payload is 513 bytes, above this server's maximum of 512 (-max-payload)"},
		{"form", "/work", form, url.Values{"name": {"a"}, "payload": {big}}.Encode(), 413, "maximum of 512 (-max-payload)"},
		{"JSON", "/work", submit.JSONType, `{"name": "a", "payload": ` + big + `}`, 413, "maximum of 512 (-max-payload)"},
		{"multipart", "/work", mpType, mp, 413, "maximum of 512 (-max-payload)"},
		{"not JSON", "/work", form, "name=a&payload=%7Bw%3A1%7D", 400, "payload is not JSON: invalid character 'w'"},
		{"two values", "/work", form, "name=a&payload=1%202", 400, "payload is not JSON"},
		{"not UTF-8", "/work", form, "name=a&payload=%22%FF%22", 400, "payload is not valid UTF-8"},
		{"body too large", "/work", form, "name=a&delay=" + strings.Repeat("1", 65<<10), 413, "the body is larger than 64 KiB"},
		{"at the limit", "/work", form, url.Values{"name": {"a"}, "payload": {big[1:]}}.Encode(), 400, "payload is not JSON"}, // 512 bytes, not a string
	}
	for _, tt := range tests {
		rec := ts.do("POST", tt.target, tt.contentType, tt.body)
		if got := decodeError(t, rec.Body.Bytes()); rec.Code != tt.status || !strings.Contains(got, tt.want) {
			t.Errorf("%s: POST /work = %d %q, want %d %q", tt.name, rec.Code, got, tt.status, tt.want)
		}
	}
	ok := `"` + strings.Repeat("x", 510) + `"` // 512 bytes
	if rec := ts.do("POST", "/work", submit.JSONType, `{"name": "a", "payload": `+ok+`}`); rec.Code != http.StatusCreated {
		t.Errorf("a payload of 512 bytes under -max-payload 512: %d %s, want 201", rec.Code, rec.Body)
	}
}

// TestPayloadInEvents checks a job event carries payload_bytes, not the
// payload.
func TestPayloadInEvents(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig(), Sleep)
	hs := httptest.NewServer(ts.handler)
	t.Cleanup(hs.Close) // after t.Context ends the stream
	r := testutil.OpenStream(t, hs.URL, "")
	rec := ts.do("POST", "/work", submit.JSONType, `{"name": "e", "payload": {"secret": "<b>x</b>"}}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	ev := testutil.NextOf(t, r, "job")
	if strings.Contains(ev.Data, "secret") || !strings.Contains(ev.Data, `"payload_bytes":22`) {
		t.Errorf("job event %s, want payload_bytes 22 and no payload", ev.Data)
	}
}

// TestPayloadMemoryBounds sets the payloads' bounds small: a payload that
// would take the unfinished jobs' past theirs is 503 with Retry-After
// (reason payload), a job without one is still taken; finished jobs keep
// their payloads while under their bound, the newest first, and an older one
// answers payload_dropped (and cannot be retried); the gauges follow.
func TestPayloadMemoryBounds(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Workers = 1
	cfg.PayloadBounds = [2]int64{20, 20}
	release := make(chan struct{})
	ts := newTestServer(t, cfg, func(ctx context.Context, r *WorkRequest) error {
		if r.Name == "hold" {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	post := func(name, payload string) *httptest.ResponseRecorder {
		return ts.do("POST", "/work", form, url.Values{"name": {name}, "payload": {payload}}.Encode())
	}
	gauges := func(unfinished, finished int64) {
		t.Helper()
		body := ts.do("GET", "/metrics", "", "").Body.String()
		if u, f := metricValue(body, `workqueue_payload_bytes{of="unfinished"}`), metricValue(body, `workqueue_payload_bytes{of="finished"}`); u != unfinished || f != finished {
			t.Errorf("workqueue_payload_bytes unfinished %d finished %d, want %d and %d", u, f, unfinished, finished)
		}
	}
	a := post("hold", `"0123456789"`) // 12 bytes
	if a.Code != http.StatusCreated {
		t.Fatalf("POST hold: %d %s", a.Code, a.Body)
	}
	aID := decodeJob(t, a.Body.Bytes()).ID
	gauges(12, 0)
	rec := post("b", `"0123456789"`)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("POST b past the unfinished payloads' bound: %d %v %s, want 503 with Retry-After: 1", rec.Code, rec.Header(), rec.Body)
	}
	if n := metricValue(ts.do("GET", "/metrics", "", "").Body.String(), `workqueue_jobs_rejected_total{reason="payload"}`); n != 1 {
		t.Errorf(`rejected{reason="payload"} = %d, want 1`, n)
	}
	if rec := ts.submit("c", ""); rec.Code != http.StatusCreated {
		t.Errorf("POST c, without a payload: %d, want 201", rec.Code)
	}
	close(release)
	ts.waitJob(t, aID, "done", func(j job.View) bool { return j.State == "done" })
	if j := ts.getJob(t, aID); string(j.Payload) != `"0123456789"` || j.PayloadDropped {
		t.Errorf("job %s finished under the bound: %+v, want its payload kept", aID, j)
	}
	gauges(0, 12)
	rec = post("b", `"0123456789"`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST b: %d %s", rec.Code, rec.Body)
	}
	bID := decodeJob(t, rec.Body.Bytes()).ID
	ts.waitJob(t, bID, "done", func(j job.View) bool { return j.State == "done" })
	if j := ts.getJob(t, aID); j.Payload != nil || !j.PayloadDropped {
		t.Errorf("the older finished job %s: %+v, want payload_dropped", aID, j)
	}
	if j := ts.getJob(t, bID); string(j.Payload) != `"0123456789"` {
		t.Errorf("the newest finished job %s: %+v, want its payload", bID, j)
	}
	gauges(0, 12)
}

// TestPayloadIdempotency checks a key binds the payload and run_at too.
func TestPayloadIdempotency(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testConfig(), Sleep)
	post := func(body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/work", strings.NewReader(body))
		req.Header.Set("Content-Type", submit.JSONType)
		req.Header.Set("Idempotency-Key", "k-1")
		rec := httptest.NewRecorder()
		ts.handler.ServeHTTP(rec, req)
		return rec
	}
	first := `{"name": "a", "payload": {"w": 640}, "run_at": "2020-01-01T00:00:00Z"}`
	if rec := post(first); rec.Code != http.StatusCreated {
		t.Fatalf("first: %d %s", rec.Code, rec.Body)
	}
	if rec := post(first); rec.Code != http.StatusCreated || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("the same again: %d %v, want 201 replayed", rec.Code, rec.Header())
	}
	for _, other := range []string{
		`{"name": "a", "payload": {"w": 641}, "run_at": "2020-01-01T00:00:00Z"}`,
		`{"name": "a", "payload": {"w":640}, "run_at": "2020-01-01T00:00:00Z"}`, // not as sent
		`{"name": "a", "run_at": "2020-01-01T00:00:00Z"}`,
		`{"name": "a", "payload": {"w": 640}, "run_at": "2020-01-01T00:00:01Z"}`,
		`{"name": "a", "payload": {"w": 640}}`,
	} {
		if rec := post(other); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "another payload, run_at") {
			t.Errorf("%s with the key of %s: %d %s, want 422", other, first, rec.Code, rec.Body)
		}
	}
}
