package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinaryTornPageInTheLastBatches has the real binary journal 40 jobs of
// 1 KB under -fsync never, each its own group commit, kills it with SIGKILL,
// and zeroes one page in the middle of its segment, as a power cut can
// leave pages of the unflushed end reach the disk out of order: valid
// batches follow the zeroed page. Nothing after the last flush was ever
// promised durable, so the restart must cut the journal there as a torn
// tail (and log it), keeping the jobs before the page; before batches were
// framed it refused to start, calling the valid records after the page
// damage.
func TestBinaryTornPageInTheLastBatches(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := []string{"-journal", dir, "-fsync", "never", "-n", "1", "-max-delay", "1h", "-queue", "1000"}
	p := startBinary(t, args...)
	if code, _ := p.post(t, "hold", "1h"); code != http.StatusCreated {
		t.Fatalf("POST hold: %d, want 201", code)
	}
	pad := strings.Repeat("p", 1000)
	for i := range 40 {
		if code, _ := p.post(t, fmt.Sprintf("%02d-%s", i, pad), "0s"); code != http.StatusCreated {
			t.Fatalf("POST job %d: %d, want 201", i, code)
		}
	}
	p.kill9(t)
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.wqj"))
	if len(segs) != 1 {
		t.Fatalf("%d segments, want 1: %v", len(segs), segs)
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	if len(b) < 5*page {
		t.Fatalf("segment of %d bytes, want at least 5 pages", len(b))
	}
	clear(b[2*page : 3*page]) // valid batches follow it
	if err := os.WriteFile(segs[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	p = startBinary(t, args...)
	if !strings.Contains(p.stderr.String(), "cutting torn tail") {
		t.Errorf("the restart did not log the torn tail it cut:\n%s", lastLines(p.stderr.String(), 10))
	}
	if _, ok := p.getJob(t, "1"); !ok {
		t.Error("job 1, journaled in the first page, is gone after the restart")
	}
	if _, ok := p.getJob(t, "41"); ok {
		t.Error("job 41, journaled after the zeroed page, came back: the cut kept a batch after a torn one")
	}
}
