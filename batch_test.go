package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/submit"
)

// jsonBatch returns a JSON array of n jobs named prefix1, prefix2, ...
func jsonBatch(prefix string, n int) string {
	objs := make([]string, n)
	for i := range objs {
		objs[i] = fmt.Sprintf(`{"name":"%s%d"}`, prefix, i+1)
	}
	return "[" + strings.Join(objs, ",") + "]"
}

// decodeJobs decodes a batch's answer, {"jobs": [...]}.
func decodeJobs(t *testing.T, body []byte) []job.View {
	t.Helper()
	var b struct {
		Jobs []job.View `json:"jobs"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Jobs == nil {
		t.Fatalf("decoding a batch's answer %q: %v", body, err)
	}
	return b.Jobs
}

// TestBatchOutcomes checks every answer to a batch, as a JSON array and as
// NDJSON: 201 with every job in order, numbered one after the other, and
// none queued on any refusal, whose error names the first bad job by its
// place (job N) or line (line N), both from 1.
func TestBatchOutcomes(t *testing.T) {
	const ndjson = submit.NDJSONType
	for _, tt := range []struct {
		name, contentType, body string
		target                  string // "" for /work
		want                    int
		wantErr                 string
		wantNames               []string
	}{
		{"array", "application/json", `[{"name":"a"},{"name":"b","delay":"1s"}, {"name":"c"}]`, "", 201, "", []string{"a", "b", "c"}},
		{"array after a BOM and white space", "application/json; charset=utf-8", "\uFEFF \n [{\"name\":\"a\"}]", "", 201, "", []string{"a"}},
		{"batch of one", "application/json", `[{"name":"solo"}]`, "", 201, "", []string{"solo"}},
		{"ndjson", ndjson, "{\"name\":\"a\"}\n\n{\"name\":\"b\"}\r\n{\"name\":\"c\"}", "", 201, "", []string{"a", "b", "c"}},
		{"bad job", "application/json", `[{"name":"a"},{"name":"b"},{"delay":"1s"}]`, "", 400, "job 3: name is required", nil},
		{"job not an object", "application/json", `[{"name":"a"},7]`, "", 400, "job 2: the JSON body must be an object", nil},
		{"unknown field", "application/json", `[{"name":"a","colour":"red"}]`, "", 400, `job 1: the JSON body may hold only`, nil},
		{"bad delay", "application/json", `[{"name":"a","delay":"-1s"}]`, "", 400, "job 1: delay -1s is negative", nil},
		{"malformed element", "application/json", `[{"name":"a"},{"name":}]`, "", 400, "job 2: the body is not valid JSON", nil},
		{"after the array", "application/json", `[{"name":"a"}] x`, "", 400, "nothing after it", nil},
		{"unclosed array", "application/json", `[{"name":"a"}`, "", 400, "not valid JSON", nil},
		{"bad line", ndjson, "{\"name\":\"a\"}\n\n{\"name\":\"\"}\n", "", 400, "line 3: name is required", nil},
		{"line not JSON", ndjson, "{\"name\":\"a\"}\nname=b\n", "", 400, "line 2: the body is not valid JSON", nil},
		{"two objects on a line", ndjson, `{"name":"a"} {"name":"b"}`, "", 400, "line 1: the JSON body must be one object", nil},
		{"empty array", "application/json", `[]`, "", 400, "the batch holds no job", nil},
		{"empty ndjson", ndjson, "\n\n", "", 400, "the batch holds no job", nil},
		{"query with a batch", "application/json", `[{"name":"a"}]`, "/work?delay=1s", 400, "no query string", nil},
		{"past -max-batch", "application/json", jsonBatch("j", 5), "", 413, "more than 4 jobs", nil},
		{"past -max-batch, ndjson", ndjson, strings.Repeat("{\"name\":\"x\"}\n", 5), "", 413, "more than 4 jobs", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxBatch = 4
			ts := newTestServer(t, cfg, newGate(nil).work)
			target := cmpOr(tt.target, "/work")
			rec := ts.do("POST", target, tt.contentType, tt.body)
			if rec.Code != tt.want {
				t.Fatalf("POST %q: status = %d, want %d: %s", tt.body, rec.Code, tt.want, rec.Body)
			}
			if tt.want != 201 {
				if msg := decodeError(t, rec.Body.Bytes()); !strings.Contains(msg, tt.wantErr) {
					t.Errorf("error %q, want it to hold %q", msg, tt.wantErr)
				}
				if n := ts.jobs.Len(); n != 0 || ts.stats.Accepted.Load() != 0 {
					t.Errorf("after a refused batch: %d jobs kept, %d accepted; want none", n, ts.stats.Accepted.Load())
				}
				return
			}
			if loc := rec.Header().Get("Location"); loc != "" {
				t.Errorf("Location: %q, want none for a batch", loc)
			}
			jobs := decodeJobs(t, rec.Body.Bytes())
			if len(jobs) != len(tt.wantNames) {
				t.Fatalf("%d jobs in the answer, want %d: %s", len(jobs), len(tt.wantNames), rec.Body)
			}
			for i, j := range jobs {
				if j.Name != tt.wantNames[i] || j.ID != strconv.Itoa(i+1) || (j.State != "queued" && j.State != "running") {
					t.Errorf("job %d: %+v, want id %d, name %s, queued or running", i+1, j, i+1, tt.wantNames[i])
				}
				if got := ts.getJob(t, j.ID); got.Name != j.Name {
					t.Errorf("GET /work/%s: name %q, want %q", j.ID, got.Name, j.Name)
				}
			}
			if n := ts.stats.Accepted.Load(); n != int64(len(jobs)) {
				t.Errorf("accepted = %d, want %d: each job counts", n, len(jobs))
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestBatchFull checks a batch that does not fit whole in WorkQueue is
// refused 503 with Retry-After and queues nothing, one that never can is
// 503 without it, and one that fits exactly is taken.
func TestBatchFull(t *testing.T) {
	cfg := testConfig()
	cfg.Queue, cfg.Workers = 5, 1
	started := make(chan *WorkRequest, 1)
	ts := newTestServer(t, cfg, newGate(started).work)
	ts.post(t, "running", 201)
	<-started // the worker holds it: 5 places left
	ts.post(t, "queued", 201)
	rec := ts.do("POST", "/work", "application/json", jsonBatch("j", 5))
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("batch of 5 with room for 4: status %d, Retry-After %q, want 503, 1: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if n := ts.queue.Len(); n != 1 {
		t.Errorf("after the refused batch %d jobs queued, want 1", n)
	}
	rec = ts.do("POST", "/work", "application/json", jsonBatch("j", 6))
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "" || !strings.Contains(rec.Body.String(), "never fit") {
		t.Errorf("batch of 6 in a queue of 5: status %d, Retry-After %q: %s; want 503 saying it never fits, no Retry-After", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if rec := ts.do("POST", "/work", "application/json", jsonBatch("j", 4)); rec.Code != 201 {
		t.Fatalf("batch of 4 with room for 4: status %d: %s", rec.Code, rec.Body)
	}
	if n := ts.queue.Len(); n != 5 {
		t.Errorf("%d jobs queued, want 5", n)
	}
	if got := ts.metricValue(t, `workqueue_jobs_rejected_total{reason="full"}`); got != 2 {
		t.Errorf(`rejected{reason="full"} = %v, want 2 (one a refused batch)`, got)
	}
}

// TestBatchTooLarge checks a body over 16 MiB is 413, read or not.
func TestBatchTooLarge(t *testing.T) {
	ts := newTestServer(t, testConfig(), newGate(nil).work)
	body := `[{"name":"` + strings.Repeat("a", submit.MaxBatchBytes) + `"}]`
	for _, ct := range []string{"application/json", submit.NDJSONType} {
		if rec := ts.do("POST", "/work", ct, body); rec.Code != 413 || !strings.Contains(rec.Body.String(), "16 MiB") {
			t.Errorf("%s body of 16 MiB and more: status %d: %s, want 413 naming 16 MiB", ct, rec.Code, rec.Body)
		}
	}
	req := newRequest("POST", "/work", submit.NDJSONType, strings.NewReader(body))
	req.ContentLength = -1 // chunked: only reading finds it too large
	rec := serveReq(ts, req)
	if rec.Code != 413 {
		t.Errorf("chunked NDJSON body over 16 MiB: status %d: %s, want 413", rec.Code, rec.Body)
	}
}

// TestBatchIdempotencyKey checks an Idempotency-Key binds the whole batch:
// the same body again is the same jobs, answered 201 with
// Idempotent-Replayed; another body, another size or a single job with the
// key is 422; and across a restart from the journal the key stays bound to
// the batch.
func TestBatchIdempotencyKey(t *testing.T) {
	cfg := testConfig()
	cfg.JournalDir = t.TempDir()
	ts, err := recoverServer(cfg, newGate(nil).work)
	if err != nil {
		t.Fatal(err)
	}
	ts.start()
	post := func(ts *testServer, body string) *testRecorder {
		req := newRequest("POST", "/work", "application/json", strings.NewReader(body))
		req.Header.Set("Idempotency-Key", "batch-1")
		return serveReq(ts, req)
	}
	first := post(ts, jsonBatch("j", 3))
	if first.Code != 201 {
		t.Fatalf("first batch: status %d: %s", first.Code, first.Body)
	}
	want := decodeJobs(t, first.Body.Bytes())
	check := func(ts *testServer, when string) {
		t.Helper()
		rec := post(ts, jsonBatch("j", 3))
		if rec.Code != 201 || rec.Header().Get("Idempotent-Replayed") != "true" {
			t.Fatalf("%s: the same batch again: status %d, Idempotent-Replayed %q: %s", when, rec.Code, rec.Header().Get("Idempotent-Replayed"), rec.Body)
		}
		got := decodeJobs(t, rec.Body.Bytes())
		for i := range want {
			if got[i].ID != want[i].ID || got[i].Name != want[i].Name {
				t.Errorf("%s: replayed job %d: %s %s, want %s %s", when, i+1, got[i].ID, got[i].Name, want[i].ID, want[i].Name)
			}
		}
		for _, body := range []string{jsonBatch("k", 3), jsonBatch("j", 2), jsonBatch("j", 4)} {
			if rec := post(ts, body); rec.Code != 422 {
				t.Errorf("%s: another batch %s with the key: status %d, want 422: %s", when, body, rec.Code, rec.Body)
			}
		}
		req := newRequest("POST", "/work", "application/json", strings.NewReader(`{"name":"j1"}`))
		req.Header.Set("Idempotency-Key", "batch-1")
		if rec := serveReq(ts, req); rec.Code != 422 || !strings.Contains(rec.Body.String(), "a batch of 3 jobs") {
			t.Errorf("%s: a single job with the batch's key: status %d, want 422 naming the batch: %s", when, rec.Code, rec.Body)
		}
		if n := ts.jobs.Len(); n != 3 {
			t.Errorf("%s: %d jobs kept, want the batch's 3", when, n)
		}
	}
	check(ts, "before a restart")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ts.drain(ctx)
	ts.journal.Close()
	again, err := recoverServer(cfg, newGate(nil).work)
	if err != nil {
		t.Fatal(err)
	}
	defer again.journal.Close()
	again.start()
	defer again.drain(ctx)
	check(again, "after a restart")
}

// TestBatchOneCommit checks a batch's acceptances are one group commit: a
// batch of 50 costs the journal exactly one fsync.
func TestBatchOneCommit(t *testing.T) {
	cfg := testConfig()
	cfg.JournalDir, cfg.Queue, cfg.Workers, cfg.MaxBatch = t.TempDir(), 100, 1, 100
	started := make(chan *WorkRequest, 1)
	ts, err := recoverServer(cfg, newGate(started).work)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.journal.Close()
	ts.start()
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ts.drain(ctx)
	}()
	ts.post(t, "running", 201)
	<-started // held: nothing else starts
	// The running job's start record was queued for the journal before it
	// started: this job's commit, which the 201 waits for, takes it along.
	ts.post(t, "queued", 201)
	before := ts.metricValue(t, "workqueue_journal_fsync_seconds_count")
	if rec := ts.do("POST", "/work", "application/json", jsonBatch("j", 50)); rec.Code != 201 {
		t.Fatalf("batch: status %d: %s", rec.Code, rec.Body)
	}
	if n := ts.metricValue(t, "workqueue_journal_fsync_seconds_count") - before; n != 1 {
		t.Errorf("a batch of 50 took %v fsyncs, want 1", n)
	}
}

// newRequest returns a request to the server's handler with the given
// Content-Type.
func newRequest(method, target, contentType string, body io.Reader) *http.Request {
	req := httptest.NewRequest(method, target, body)
	req.Header.Set("Content-Type", contentType)
	return req
}

// testRecorder is what serve answers.
type testRecorder = httptest.ResponseRecorder

// serveReq sends req to the server's handler and returns the answer.
func serveReq(ts *testServer, req *http.Request) *testRecorder {
	rec := httptest.NewRecorder()
	ts.handler.ServeHTTP(rec, req)
	return rec
}

// TestBatchPayloadAndRunAt: the jobs of a batch take payload and run_at as
// single jobs do: a payload kept as sent, and a job with a future run_at
// waiting for it (scheduled, not in WorkQueue) beside one queued at once;
// past -max-scheduled the whole batch is refused and nothing is kept.
func TestBatchPayloadAndRunAt(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Workers, cfg.MaxScheduled = 1, 1
	started := make(chan *WorkRequest, 4)
	ts := newTestServer(t, cfg, newGate(started).work)
	ts.post(t, "running", 201)
	<-started // the worker holds it: what follows stays queued
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	body := `[{"name":"now","payload":{"w":640,"tag":"<b>"}},{"name":"later","run_at":"` + at + `"}]`
	rec := ts.do("POST", "/work", "application/json", body)
	if rec.Code != 201 {
		t.Fatalf("batch: %d %s", rec.Code, rec.Body)
	}
	jobs := decodeJobs(t, rec.Body.Bytes())
	if len(jobs) != 2 || jobs[1].RunAt.Format(time.RFC3339) != at {
		t.Fatalf("batch answered %+v, want two jobs, the second with run_at %s", jobs, at)
	}
	if got := ts.do("GET", "/work/"+jobs[0].ID, "", "").Body.String(); !strings.Contains(got, `"payload":{"w":640,"tag":"<b>"}`) {
		t.Errorf("GET the first job = %s, want its payload as sent", got)
	}
	m := ts.do("GET", "/metrics", "", "").Body.String()
	if s, q := metricValue(m, "workqueue_jobs_scheduled"), metricValue(m, "workqueue_queue_length"); s != 1 || q != 1 {
		t.Errorf("jobs_scheduled %d, queue_length %d; want 1 and 1", s, q)
	}
	rec = ts.do("POST", "/work", "application/json", `[{"name":"a"},{"name":"b","run_at":"`+at+`"}]`)
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("batch past -max-scheduled: %d %s, want 503 with Retry-After: 1", rec.Code, rec.Body)
	}
	m = ts.do("GET", "/metrics", "", "").Body.String()
	if s, q := metricValue(m, "workqueue_jobs_scheduled"), metricValue(m, "workqueue_queue_length"); s != 1 || q != 1 {
		t.Errorf("after the refused batch: jobs_scheduled %d, queue_length %d; want 1 and 1 (none of it kept)", s, q)
	}
}
