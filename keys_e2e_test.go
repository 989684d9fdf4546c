package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// postKey submits a job with an Idempotency-Key to the process and returns
// the status, the Location and the Idempotent-Replayed header.
func (p *proc) postKey(t *testing.T, key, name, delay string) (code int, location, replayed string) {
	t.Helper()
	req, _ := http.NewRequest("POST", p.url+"/work", strings.NewReader(url.Values{"name": {name}, "delay": {delay}}.Encode()))
	req.Header.Set("Content-Type", form)
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s with key %s: %v", name, key, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Idempotent-Replayed")
}

// TestJournalKeepsIdempotencyKeys binds three keys to jobs (one done, one
// running, one queued), kills the binary with SIGKILL, restarts it on the
// same journal, and checks each key still answers its job's 201, replayed,
// and still refuses another name with 422.
func TestJournalKeepsIdempotencyKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startBinary(t, "-journal", dir, "-n", "1")
	jobs := []struct{ key, name, delay, location string }{
		{"ka", "done", "0s", ""},
		{"kb", "running", "5s", ""},
		{"kc", "queued", "0s", ""},
	}
	for i := range jobs {
		j := &jobs[i]
		code, loc, _ := p.postKey(t, j.key, j.name, j.delay)
		if code != http.StatusCreated {
			t.Fatalf("POST %s: status %d, want 201", j.name, code)
		}
		j.location = loc
		if i == 0 {
			p.waitState(t, strings.TrimPrefix(loc, "/work/"), "done")
		}
	}
	p.waitState(t, strings.TrimPrefix(jobs[1].location, "/work/"), "running")
	p.kill9(t)

	p = startBinary(t, "-journal", dir, "-n", "1")
	for _, j := range jobs {
		code, loc, replayed := p.postKey(t, j.key, j.name, j.delay)
		if code != http.StatusCreated || loc != j.location || replayed != "true" {
			t.Errorf("after restart, key %s: %d %s replayed %q; want 201 %s true", j.key, code, loc, replayed, j.location)
		}
		if code, _, _ := p.postKey(t, j.key, "other", j.delay); code != http.StatusUnprocessableEntity {
			t.Errorf("after restart, key %s with another name: %d, want 422", j.key, code)
		}
	}
	if code, loc, replayed := p.postKey(t, "kd", "new", "0s"); code != http.StatusCreated || replayed != "" || loc == jobs[0].location {
		t.Errorf("after restart, a new key: %d %s replayed %q; want a new job", code, loc, replayed)
	}
}
