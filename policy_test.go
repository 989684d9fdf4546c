package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/submit"
)

// postValues submits a job with the parameters vs as a form, and returns
// the status, the job's id on 201 and the body.
func (p *proc) postValues(t *testing.T, vs url.Values) (code int, id, body string) {
	t.Helper()
	resp, err := http.PostForm(p.url+"/work", vs)
	if err != nil {
		t.Fatalf("POST %v: %v", vs, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimPrefix(resp.Header.Get("Location"), "/work/"), string(b)
}

// TestJobPolicy checks a job's own retries and timeout, with -- COMMAND: in
// each encoding, checked, shown by GET /work/<id>, and obeyed over -retries
// and -job-timeout.
func TestJobPolicy(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Retries = 3
	cfg.JobTimeout = time.Minute
	ts := commandServer(t, cfg, `if [ "$WORKQUEUE_NAME" = slow ]; then sleep 30; fi; exit 3`)

	refusals := []struct{ contentType, body, want string }{
		{form, "name=a&retries=26", "retries 26 is above this server's maximum of 25 (-max-retries)"},
		{form, "name=a&retries=-1", "retries -1 is negative"},
		{form, "name=a&retries=x", `retries "x" is not a whole number`},
		{form, "name=a&retries=1&retries=2", "retries is given 2 times in the form body"},
		{form, "name=a&timeout=0s", "timeout 0s is not above 0"},
		{form, "name=a&timeout=25h", "timeout 25h0m0s is above the maximum of 24h0m0s"},
		{form, "name=a&timeout=5", `timeout "5" is not a duration`},
		{submit.JSONType, `{"name": "a", "retries": "2"}`, `JSON field "retries" must be a number, not string`},
		{submit.JSONType, `{"name": "a", "retries": 1.5}`, `retries "1.5" is not a whole number`},
		{submit.JSONType, `{"name": "a", "timeout": 5}`, `JSON field "timeout" must be a string, not number`},
	}
	for _, r := range refusals {
		rec := ts.do("POST", "/work", r.contentType, r.body)
		if got := decodeError(t, rec.Body.Bytes()); rec.Code != http.StatusBadRequest || !strings.Contains(got, r.want) {
			t.Errorf("POST %s: %d %q, want 400 %q", r.body, rec.Code, got, r.want)
		}
	}

	// Retries 0 fails at once, despite -retries 3; retries 1 tries once more.
	rec := ts.do("POST", "/work?retries=0", form, "name=once")
	once := decodeJob(t, rec.Body.Bytes())
	if rec.Code != http.StatusCreated || once.Retries == nil || *once.Retries != 0 || once.Timeout != "" {
		t.Fatalf("POST retries=0: %d %s, want 201 with retries 0 and no timeout", rec.Code, rec.Body)
	}
	rec = ts.do("POST", "/work", submit.JSONType, `{"name": "twice", "retries": 1, "timeout": "10s"}`)
	twice := decodeJob(t, rec.Body.Bytes())
	if rec.Code != http.StatusCreated || twice.Retries == nil || *twice.Retries != 1 || twice.Timeout != "10s" {
		t.Fatalf("POST JSON retries 1: %d %s, want 201 with retries 1, timeout 10s", rec.Code, rec.Body)
	}
	rec = ts.do("POST", "/work", form, "name=slow&timeout=200ms&retries=0")
	slow := decodeJob(t, rec.Body.Bytes())

	if j := ts.waitJob(t, once.ID, "final", final); j.State != "failed" || j.Attempts != 1 {
		t.Errorf("retries=0: %+v, want failed after 1 attempt", j)
	}
	if j := ts.waitJob(t, twice.ID, "final", final); j.State != "failed" || j.Attempts != 2 {
		t.Errorf("retries 1: %+v, want failed after 2 attempts", j)
	}
	if j := ts.waitJob(t, slow.ID, "final", final); j.State != "failed" || j.Error != "killed by SIGTERM after timeout 200ms" {
		t.Errorf("timeout 200ms: %+v, want failed, killed by SIGTERM after timeout 200ms", j)
	}
}

// TestJobPolicyIdempotency checks an Idempotency-Key reused with other
// retries is 422, and with the same ones replays the job.
func TestJobPolicyIdempotency(t *testing.T) {
	t.Parallel()
	ts := commandServer(t, testConfig(), "exit 0")
	post := func(body string) *http.Response {
		req, _ := http.NewRequest("POST", "/work", strings.NewReader(body))
		req.Header.Set("Content-Type", form)
		req.Header.Set("Idempotency-Key", "k")
		rec := httptest.NewRecorder()
		ts.handler.ServeHTTP(rec, req)
		return rec.Result()
	}
	if r := post("name=a&retries=2"); r.StatusCode != http.StatusCreated {
		t.Fatalf("first: %d", r.StatusCode)
	}
	if r := post("name=a&retries=2"); r.StatusCode != http.StatusCreated || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("same retries: %d %v, want a replayed 201", r.StatusCode, r.Header)
	}
	if r := post("name=a&retries=3"); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("other retries: %d, want 422", r.StatusCode)
	}
	if r := post("name=a"); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("no retries: %d, want 422", r.StatusCode)
	}
}

// TestBinaryJobPolicyJournaled checks, with the real binary and -journal,
// that a job's retries and timeout survive kill -9.
func TestBinaryJobPolicyJournaled(t *testing.T) {
	t.Parallel()
	args := []string{"-journal", t.TempDir(), "-n", "1", "--", "/bin/sh", "-c", "sleep 30"}
	p := startBinary(t, args...)
	code, id, body := p.postValues(t, url.Values{"name": {"a"}, "retries": {"2"}, "timeout": {"1m"}})
	if code != http.StatusCreated {
		t.Fatalf("POST: %d %s", code, body)
	}
	p.kill9(t)
	p = startBinary(t, args...)
	resp, err := http.Get(p.url + "/work/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var j job.View
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
		t.Fatal(err)
	}
	if j.Retries == nil || *j.Retries != 2 || j.Timeout != "1m0s" {
		t.Errorf("after kill -9: %+v, want retries 2, timeout 1m0s", j)
	}
}

// TestCommandExitNoRetry checks an attempt that exits with
// command.ExitNoRetry (65) fails its job at once, whatever its retries, and
// that another failure is still retried.
func TestCommandExitNoRetry(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Retries = 5
	ts := commandServer(t, cfg, `echo bad input; if [ "$WORKQUEUE_NAME" = other ] && [ "$WORKQUEUE_ATTEMPT" = 1 ]; then exit 3; fi; exit 65`)
	id := ts.submitID(t, "data", "0s")
	other := ts.submitID(t, "other", "0s")
	j := ts.waitJob(t, id, "final", final)
	if j.State != "failed" || j.Attempts != 1 || j.Error != "exit status 65 (EX_DATAERR: failed, not to be retried)" || j.RetryAt != (time.Time{}) {
		t.Errorf("exit 65: %+v, want failed after 1 attempt, not retried", j)
	}
	if j := ts.waitJob(t, other, "final", final); j.State != "failed" || j.Attempts != 2 {
		t.Errorf("exit 3 then 65: %+v, want failed after 2 attempts", j)
	}
	if m, _ := scrape(t, ts); m[`workqueue_job_attempts_total{outcome="failed"}`] != 3 {
		t.Errorf("failed attempts counted: %v, want 3", m[`workqueue_job_attempts_total{outcome="failed"}`])
	}
}

// postRetry posts /work/<id>/retry and returns the status and the job.
func (p *proc) postRetry(t *testing.T, id string) (int, job.View) {
	t.Helper()
	resp, err := http.Post(p.url+"/work/"+id+"/retry", "", nil)
	if err != nil {
		t.Fatalf("POST /work/%s/retry: %v", id, err)
	}
	defer resp.Body.Close()
	var j job.View
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &j)
	return resp.StatusCode, j
}

// TestBinaryRetryEndpoint checks POST /work/<id>/retry with the real binary:
// a failed command job runs again, its attempts counting on and its retries
// anew; a done job is 409, an unknown one 404.
func TestBinaryRetryEndpoint(t *testing.T) {
	t.Parallel()
	p := startBinary(t, "-n", "1", "--", "/bin/sh", "-c", `[ "$WORKQUEUE_NAME" = ok ] && exit 0; exit 3`)
	code, id, body := p.postValues(t, url.Values{"name": {"bad"}, "retries": {"1"}})
	if code != http.StatusCreated {
		t.Fatalf("POST: %d %s", code, body)
	}
	p.waitState(t, id, "failed")
	if j, _ := p.getJob(t, id); j.Attempts != 2 {
		t.Fatalf("before the retry: %d attempts, want 2", j.Attempts)
	}
	code, j := p.postRetry(t, id)
	if code != http.StatusOK || j.ID != id || j.Error != "" || !j.FinishedAt.IsZero() {
		t.Fatalf("POST retry: %d %+v, want 200 with the job queued again, no error", code, j)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, _ := p.getJob(t, id)
		if j.State == "failed" && j.Attempts == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the retry: %+v, want failed after 4 attempts (2 more: its retries anew)", j)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, ok := p.post(t, "ok", "0s")
	if ok != "" {
		p.waitState(t, ok, "done")
		if code, _ := p.postRetry(t, ok); code != http.StatusConflict {
			t.Errorf("POST retry of a done job: %d, want 409", code)
		}
	}
	if code, _ := p.postRetry(t, "999"); code != http.StatusNotFound {
		t.Errorf("POST retry of an unknown job: %d, want 404", code)
	}
	resp, err := http.Get(p.url + "/work/" + id + "/retry")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Errorf("GET /work/%s/retry: %d Allow %q, want 405 Allow POST", id, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

// TestBinaryRetryJournaled checks a retry is durable: a job failed, then
// retried and running, runs again after kill -9, not failed.
func TestBinaryRetryJournaled(t *testing.T) {
	t.Parallel()
	args := []string{"-journal", t.TempDir(), "-n", "1", "--", "/bin/sh", "-c", `[ "$WORKQUEUE_ATTEMPT" -gt 1 ] && exec sleep 30; exit 3`}
	p := startBinary(t, args...)
	code, id, body := p.postValues(t, url.Values{"name": {"a"}, "retries": {"0"}})
	if code != http.StatusCreated {
		t.Fatalf("POST: %d %s", code, body)
	}
	p.waitState(t, id, "failed")
	if code, j := p.postRetry(t, id); code != http.StatusOK {
		t.Fatalf("POST retry: %d %+v", code, j)
	}
	p.waitState(t, id, "running")
	p.kill9(t)
	p = startBinary(t, args...)
	p.waitState(t, id, "running")
	if j, _ := p.getJob(t, id); j.Attempts != 3 || j.Error != "" {
		t.Errorf("after kill -9: %+v, want running its 3rd attempt, no error", j)
	}
}
