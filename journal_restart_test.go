package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestJournalRestartsThenCompaction is the field report of a journal that
// deleted accepted jobs: job 1 (an hour's delay, with an Idempotency-Key) is
// accepted, the binary is killed with SIGKILL, restarted, given one job,
// killed again, restarted and given jobs until a compaction completes, killed
// once more and restarted. Job 1 and its key must still be there, and so must
// every job accepted after it that had not finished. It failed when a start
// took every file it found for the compacted file: the compaction then
// claimed segments it never read, and the next start removed them.
func TestJournalRestartsThenCompaction(t *testing.T) {
	if testing.Short() {
		t.Skip("a compaction of the real binary")
	}
	t.Parallel()
	dir := t.TempDir()
	args := []string{"-journal", dir, "-fsync", "never", "-n", "2", "-max-delay", "1h", "-queue", "100000"}
	p := startBinary(t, args...)
	if code, loc, _ := p.postKey(t, "k-1", "first", "1h"); code != http.StatusCreated || loc != "/work/1" {
		t.Fatalf("POST first: %d %s, want 201 /work/1", code, loc)
	}
	p.kill9(t)

	p = startBinary(t, args...)
	if code, _ := p.post(t, "second", "1h"); code != http.StatusCreated {
		t.Fatalf("POST second: %d, want 201", code)
	}
	p.kill9(t)

	p = startBinary(t, args...)
	pad := strings.Repeat("x", 1000)
	for i := 0; p.metric(t, "workqueue_journal_compactions_total") == 0; i++ {
		if i > 20_000 {
			t.Fatalf("no compaction after %d jobs", i)
		}
		for range 200 {
			if code, _ := p.post(t, fmt.Sprintf("%06d-%s", i, pad), "0s"); code != http.StatusCreated {
				t.Fatalf("POST job %d: %d, want 201", i, code)
			}
			i++
		}
	}
	p.kill9(t)

	p = startBinary(t, args...)
	for _, id := range []string{"1", "2"} {
		if _, ok := p.getJob(t, id); !ok {
			t.Errorf("after restarts and a compaction, GET /work/%s = 404: an accepted job was lost", id)
		}
	}
	if code, loc, replayed := p.postKey(t, "k-1", "first", "1h"); code != http.StatusCreated || loc != "/work/1" || replayed != "true" {
		t.Errorf("key k-1 after the compaction: %d %s replayed %q, want 201 /work/1 true", code, loc, replayed)
	}
}
