package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestJournalDirRemoved runs the binary with its journal in a directory it
// creates, removes that directory while it runs (rm -rf), and submits again:
// the journal fails as after a disk error. POST /work answers 503 naming
// the journal, /healthz answers 503 "journal failed", the metrics count the
// refusal and the error, the error is logged once and names the removal,
// and SIGTERM still drains (exit 0).
func TestJournalDirRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "jobs")
	p := startBinary(t, "-journal", dir)
	if code := p.submit(t, "before", "0s"); code != http.StatusCreated {
		t.Fatalf("POST before the removal: status %d, want 201", code)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(p.url+"/work", url.Values{"name": {"after"}, "delay": {"0s"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "journal") {
		t.Errorf("POST after rm -rf of the journal: status %d %s, want 503 naming the journal", resp.StatusCode, body)
	}
	checkJournalFailed(t, p)
	if code := p.submit(t, "later", "0s"); code != http.StatusServiceUnavailable {
		t.Errorf("POST once the journal failed: status %d, want 503", code)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("drain after the journal failed: exit status %d, want 0:\n%s", code, p.stderr)
	}
	stderr := p.stderr.String()
	checkNoPanic(t, "journal directory removed", stderr)
	if n := strings.Count(stderr, "level=ERROR msg=\"journal failed"); n != 1 {
		t.Errorf("the journal's failure is logged %d times, want once:\n%s", n, lastLines(stderr, 20))
	}
	if !strings.Contains(stderr, "removed") {
		t.Errorf("the log does not say the journal's files were removed:\n%s", lastLines(stderr, 20))
	}
	for _, name := range greetings(t, p.stdout) {
		if name != "before" {
			t.Errorf("job %q, refused with 503, printed its greeting", name)
		}
	}
}
