package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// dirBytes returns the total size of the journal files in dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	for name, b := range snapshotDir(t, dir) {
		if _, _, ok := parseName(strings.TrimSuffix(name, tmpSuffix)); ok {
			n += int64(len(b))
		}
	}
	return n
}

// checkReplay checks that keys come back strictly increasing (in append order,
// none twice), that every key for which must says so is there, and that
// every key is at most top. It returns how many records came back.
func checkReplay(t *testing.T, got []Record, top int, must func(k uint64) bool) int {
	t.Helper()
	var prev uint64
	seen := 0
	for _, r := range got {
		if r.Key <= prev || r.Key > uint64(top) {
			t.Fatalf("Replay: key %d after %d (top %d): out of order, repeated or never appended", r.Key, prev, top)
		}
		prev = r.Key
		if must(r.Key) {
			seen++
		}
	}
	want := 0
	for k := 1; k <= top; k++ {
		if must(uint64(k)) {
			want++
		}
	}
	if seen != want {
		t.Errorf("Replay: %d of the %d records that must be kept", seen, want)
	}
	return len(got)
}

func TestCompactionKeepsJournalBounded(t *testing.T) {
	const total, keep, batch, seg = 300_000, 10_000, 100, 64 << 10
	var high atomic.Uint64
	live := func(k uint64) bool { return k+keep > high.Load() }
	dir := t.TempDir()
	j := openT(t, dir, Options{Sync: SyncNever, SegmentBytes: seg, Live: live})
	recSize := int64(encodedSize(rec(total)))
	recs := make([]Record, 0, batch)
	for i := 1; i <= total; i += batch {
		recs = recs[:0]
		for k := i; k < i+batch; k++ {
			recs = append(recs, rec(k))
		}
		if err := j.Append(recs...); err != nil {
			t.Fatal(err)
		}
		high.Store(uint64(i + batch - 1))
		liveBytes := min(int64(i+batch-1), keep) * recSize
		// doc.go's bound; a snap file may also hold the one batch
		// appended but not yet counted out of live by high.
		bound := 2*(liveBytes+batch*recSize) + 4*seg + batch*recSize + 3*headerSize
		if b := j.Bytes(); b > 2*liveBytes+16<<20 || b > bound {
			t.Fatalf("after %d records: Bytes = %d, want <= %d (2 × live + 16 MiB) and <= %d (doc.go's bound)",
				i+batch-1, b, 2*liveBytes+16<<20, bound)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if j.Compactions() == 0 {
		t.Fatalf("Compactions = 0, want > 0")
	}
	t.Logf("%d compactions, %d bytes at the end", j.Compactions(), j.Bytes())
	j = openT(t, dir, Options{Sync: SyncNever, SegmentBytes: seg, Live: live})
	if got, want := j.Bytes(), dirBytes(t, dir); got != want {
		t.Errorf("Bytes after reopen = %d, files hold %d", got, want)
	}
	n := checkReplay(t, replayAll(t, j), total, live)
	if max := (2*keep*recSize + 6*seg) / recSize; int64(n) > max {
		t.Errorf("Replay returned %d records, want at most %d", n, max)
	}
}

func TestCompactionCrashAtEveryStep(t *testing.T) {
	steps := []string{"tmp-written", "tmp-synced", "renamed", "dir-synced", "removed-0", "removed-1"}
	even := func(k uint64) bool { return k%2 == 0 }
	for _, nth := range []int{1, 2} {
		for _, step := range steps {
			t.Run(fmt.Sprintf("compaction %d stops after %s", nth, step), func(t *testing.T) {
				crashAtStep(t, nth, step, even)
			})
		}
	}
}

// crashAtStep stops the nth compaction after step, as a crash would, then
// reopens the journal and checks that nothing was lost or duplicated.
func crashAtStep(t *testing.T, nth int, step string, live func(uint64) bool) {
	const seg = 1024
	dir := t.TempDir()
	stopped := make(chan struct{})
	var seen atomic.Int64
	o := Options{Sync: SyncNever, SegmentBytes: seg, Live: live}
	o.stopAt = func(s string) bool {
		if s == "tmp-written" {
			seen.Add(1)
		}
		if s == step && seen.Load() == int64(nth) {
			close(stopped)
			return true
		}
		return false
	}
	j := openT(t, dir, o)
	top := 0
	for top < 16*nth*seg/encodedSize(rec(top)) {
		top++
		if err := j.Append(rec(top)); err != nil {
			t.Fatal(err)
		}
	}
	<-stopped
	for range 10 { // appends go on after a stopped compaction
		top++
		if err := j.Append(rec(top)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = openT(t, dir, Options{Live: live})
	checkReplay(t, replayAll(t, j), top, live)
	if got, want := j.Bytes(), dirBytes(t, dir); got != want {
		t.Errorf("Bytes after reopen = %d, files hold %d", got, want)
	}
	ents, _ := os.ReadDir(dir)
	snaps := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), tmpSuffix) {
			t.Errorf("leftover %s after reopen", filepath.Join(dir, e.Name()))
		}
		if strings.HasPrefix(e.Name(), snapPrefix) {
			snaps++
		}
	}
	if snaps > 1 {
		t.Errorf("%d snap files after reopen, want at most 1", snaps)
	}
}
