package journal

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// bigRecs returns n records of about 1 KB each, keys from first on: a batch
// of them spans n/4 pages.
func bigRecs(first, n int) []Record {
	rs := make([]Record, n)
	for i := range rs {
		rs[i] = Record{Type: 2, Key: uint64(first + i), Data: fmt.Appendf(nil, "%d-%s", first+i, strings.Repeat("p", 1000))}
	}
	return rs
}

// pagedJournal writes, through the journal under sync, three small Appends
// and then one of n records of 1 KB (one batch of several pages), into one
// segment. It returns the segment's name and bytes, the small records, all
// records, and the batches of the segment.
func pagedJournal(t *testing.T, sync Sync, n int) (name string, b []byte, small, all []Record, bs []batch) {
	t.Helper()
	dir := t.TempDir()
	j := openT(t, dir, Options{Sync: sync})
	for i := 1; i <= 3; i++ {
		if err := j.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
		small = append(small, rec(i))
	}
	big := bigRecs(10, n)
	if err := j.Append(big...); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	name = segName(1)
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	bs = batches(t, b)
	if len(bs) != 4 {
		t.Fatalf("%d batches, want 4 (one per Append)", len(bs))
	}
	return name, b, small, append(slices.Clone(small), big...), bs
}

// TestTornLastBatchZeroedPage: the last batch, of several pages, lost a page
// in its middle (a power cut wrote the pages after it, not it): the records
// after the hole are valid, yet the batch is a torn tail, cut whole with a
// warning naming the file and its offset; the batches before it are kept.
func TestTornLastBatchZeroedPage(t *testing.T) {
	name, b, small, _, bs := pagedJournal(t, SyncAlways, 16)
	last := bs[len(bs)-1]
	hole := (last.off/tornPage + 2) * tornPage // a whole page, two into the batch
	if hole+tornPage >= last.end {
		t.Fatalf("the last batch [%d, %d) does not span the page at %d and one more", last.off, last.end, hole)
	}
	torn := slices.Clone(b)
	clear(torn[hole : hole+tornPage])
	if _, _, ok := decodeRecord(torn[last.recs[len(last.recs)-1]:]); !ok {
		t.Fatal("the last record should still be valid after the hole")
	}
	dir := writeDir(t, map[string][]byte{name: torn})
	var logs logBuffer
	j := openT(t, dir, Options{Logger: logs.logger()})
	if got := replayAll(t, j); !equalRecords(got, small) {
		t.Errorf("Replay = %d records, want the %d of the batches before the torn one", len(got), len(small))
	}
	want := fmt.Sprintf("file=%s offset=%d", filepath.Join(dir, name), last.off)
	if !strings.Contains(logs.String(), "cutting torn tail") || !strings.Contains(logs.String(), want) {
		t.Errorf("logs = %s, want a torn tail cut with %q", logs.String(), want)
	}
	if st, _ := os.Stat(filepath.Join(dir, name)); st.Size() != int64(last.off) {
		t.Errorf("size after the cut = %d, want %d", st.Size(), last.off)
	}
	// The repaired journal goes on: a new segment after the cut one.
	if err := j.Append(rec(99)); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j = openT(t, dir, Options{})
	if got := replayAll(t, j); !equalRecords(got, append(slices.Clone(small), rec(99))) {
		t.Errorf("after an append, Replay = %d records, want %d", len(got), len(small)+1)
	}
}

// TestTornLastBatchAnyPages loses every combination of the last batch's
// pages (the first six): each is cut as a torn tail.
func TestTornLastBatchAnyPages(t *testing.T) {
	name, b, small, all, bs := pagedJournal(t, SyncAlways, 24)
	last := bs[len(bs)-1]
	for lost := range uint64(1 << 6) {
		torn := tearLastBatch(b, last.off, lost<<(last.off/tornPage), len(b))
		dir := writeDir(t, map[string][]byte{name: torn})
		j, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("pages lost %06b: Open = %v", lost, err)
		}
		want := small
		if lost == 0 {
			want = all
		}
		if got := replayAll(t, j); !equalRecords(got, want) {
			t.Errorf("pages lost %06b: Replay = %d records, want %d", lost, len(got), len(want))
		}
		j.Close()
	}
}

// TestBadBatchFollowedByGoodIsDamage loses a page of a batch that the writer
// had fsynced (SyncAlways) before it wrote the next one: that is no crash's
// doing, Open refuses (ErrCorrupt naming the file and the batch's offset)
// and changes nothing on disk. So for a flipped byte.
func TestBadBatchFollowedByGoodIsDamage(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, Options{})
	if err := j.Append(rec(1)); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(bigRecs(10, 16)...); err != nil { // the damaged batch
		t.Fatal(err)
	}
	if err := j.Append(rec(2)); err != nil {
		t.Fatal(err)
	}
	j.Close()
	name := segName(1)
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	bs := batches(t, b)
	mid := bs[1]
	hole := (mid.off/tornPage + 2) * tornPage
	zeroed := slices.Clone(b)
	clear(zeroed[hole : hole+tornPage])
	flipped := slices.Clone(b)
	flipped[mid.recs[3]+20] ^= 1
	for what, bad := range map[string][]byte{"a page lost": zeroed, "a byte flipped": flipped} {
		t.Run(what, func(t *testing.T) {
			dir := writeDir(t, map[string][]byte{name: bad})
			before := snapshotDir(t, dir)
			j, err := Open(dir, Options{})
			if err == nil {
				j.Close()
				t.Fatal("Open = nil, want ErrCorrupt")
			}
			want := fmt.Sprintf("%s at offset %d", filepath.Join(dir, name), mid.off)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) {
				t.Errorf("Open = %v, want ErrCorrupt naming %q", err, want)
			}
			if after := snapshotDir(t, dir); !maps.EqualFunc(before, after, slices.Equal) {
				t.Errorf("Open changed the directory")
			}
		})
	}
}

// TestUnsyncedBadBatchIsTornUnderSyncNever: the same lost page, in a file
// written under SyncNever, is what a power cut can leave (the kernel wrote
// back the later batch's pages first, none of them fsynced): the journal
// cuts the file at the bad batch, as a torn tail, losing the batches after
// it, which SyncNever allows.
func TestUnsyncedBadBatchIsTornUnderSyncNever(t *testing.T) {
	for _, sync := range []Sync{SyncNever, SyncEvery(1 << 40)} {
		t.Run(sync.String(), func(t *testing.T) {
			name, b, _, _, bs := pagedJournal(t, sync, 4)
			mid := bs[1]
			bad := slices.Clone(b)
			bad[mid.recs[0]+10] ^= 1
			dir := writeDir(t, map[string][]byte{name: bad})
			var logs logBuffer
			j := openT(t, dir, Options{Logger: logs.logger()})
			if got := replayAll(t, j); !equalRecords(got, []Record{rec(1)}) {
				t.Errorf("Replay = %d records, want 1 (the batch before the bad one)", len(got))
			}
			if !strings.Contains(logs.String(), fmt.Sprintf("offset=%d", mid.off)) {
				t.Errorf("logs = %s, want a cut at offset %d", logs.String(), mid.off)
			}
		})
	}
}

// TestBatchSpanningPages: one Append larger than a page, and one group
// commit of many concurrent Appends, each one batch of more than a page,
// replay whole.
func TestBatchSpanningPages(t *testing.T) {
	dir := t.TempDir()
	ff := &faultyFile{syncing: make(chan struct{}), release: make(chan struct{})}
	enq := make(chan struct{}, 100)
	o := withFaulty(Options{}, ff)
	o.enqueued = func() { enq <- struct{}{} }
	j := openT(t, dir, o)
	want := bigRecs(1, 10)
	done := make(chan error, 100)
	go func() { done <- j.Append(want...) }()
	<-ff.syncing // the header
	ff.release <- struct{}{}
	<-ff.syncing // the batch of 10 KB; 40 more Appends queue meanwhile
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() { done <- j.Append(bigRecs(100+2*i, 2)...) })
	}
	for range 41 {
		<-enq
	}
	ff.release <- struct{}{}
	<-ff.syncing // all 40 in one batch
	ff.release <- struct{}{}
	wg.Wait()
	for range 41 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	ff.syncing = nil
	j.Close()
	b, err := os.ReadFile(filepath.Join(dir, segName(1)))
	if err != nil {
		t.Fatal(err)
	}
	bs := batches(t, b)
	if len(bs) != 2 || len(bs[0].recs) != 10 || len(bs[1].recs) != 80 {
		t.Fatalf("batches of %v records, want 2 batches: 10 and 80", func() (n []int) {
			for _, bt := range bs {
				n = append(n, len(bt.recs))
			}
			return n
		}())
	}
	for _, bt := range bs {
		if bt.end-bt.off <= 2*tornPage {
			t.Errorf("batch at %d is %d bytes, want more than two pages", bt.off, bt.end-bt.off)
		}
	}
	j = openT(t, dir, Options{})
	got := replayAll(t, j)
	if len(got) != 90 || !equalRecords(got[:10], want) {
		t.Errorf("Replay = %d records, want 90, the first Append's first", len(got))
	}
}

// TestTruncateLastBatchAtEveryOffset cuts the file at every offset inside
// its last batch, of several pages: the check that Open makes (of the bytes, not
// the file) finds every
// cut a torn tail at the batch's offset; Open itself (whose fsyncs make it
// slower) cuts the whole batch, with a warning, and keeps the batches
// before it, tried at the page boundaries, around the batch's header and
// records, and every 61 bytes.
func TestTruncateLastBatchAtEveryOffset(t *testing.T) {
	name, b, small, all, bs := pagedJournal(t, SyncAlways, 9)
	last := bs[len(bs)-1]
	if last.end/tornPage-last.off/tornPage < 2 {
		t.Fatalf("the last batch [%d, %d) spans fewer than three pages", last.off, last.end)
	}
	open := map[int]bool{last.off + 1: true, last.off + batchHeaderSize - 1: true, last.off + batchHeaderSize: true, len(b) - 1: true}
	for _, r := range last.recs {
		open[r], open[r+1] = true, true
	}
	parent := t.TempDir()
	for cut := last.off; cut <= len(b); cut++ {
		c, err := checkBytes(parent, name, b[:cut], kindSegment, true)
		wantSize := int64(last.off)
		if cut == len(b) {
			wantSize = int64(len(b))
		}
		if err != nil || c.size != wantSize {
			t.Fatalf("cut at %d: checkFile = size %d, %v; want %d, nil", cut, c.size, err, wantSize)
		}
		if !open[cut] && cut%tornPage != 0 && (cut-last.off)%61 != 0 {
			continue
		}
		dir := filepath.Join(parent, fmt.Sprint(cut))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		var logs logBuffer
		j, err := Open(dir, Options{Logger: logs.logger()})
		if err != nil {
			t.Fatalf("cut at %d: Open = %v", cut, err)
		}
		want := small
		if cut == len(b) {
			want = all
		}
		if got := replayAll(t, j); !equalRecords(got, want) {
			t.Fatalf("cut at %d: Replay = %d records, want %d", cut, len(got), len(want))
		}
		if cut > last.off && cut < len(b) && !strings.Contains(logs.String(), fmt.Sprintf("offset=%d", last.off)) {
			t.Fatalf("cut at %d: logs = %s, want a cut at offset %d", cut, logs.String(), last.off)
		}
		j.Close()
		os.RemoveAll(dir)
	}
}

// TestReadsVersion1: files of the previous version (no batch frames), a
// sealed segment and a last one with a torn record, open as before; the
// journal appends to a new segment of the new version, and a compaction of
// them all writes a snap file of the new version that replays the same.
func TestReadsVersion1(t *testing.T) {
	seg1 := appendHeaderV1(nil, kindSegment, 0)
	for i := 1; i <= 5; i++ {
		seg1 = appendRecord(seg1, rec(i))
	}
	seg2 := appendHeaderV1(nil, kindSegment, 5)
	for i := 6; i <= 8; i++ {
		seg2 = appendRecord(seg2, rec(i))
	}
	whole := len(seg2)
	seg2 = append(seg2, appendRecord(nil, rec(9))[:12]...) // torn
	dir := writeDir(t, map[string][]byte{segName(1): seg1, segName(2): seg2})
	var logs logBuffer
	j := openT(t, dir, Options{Logger: logs.logger(), SegmentBytes: 256, Live: func(uint64) bool { return true }})
	if got := replayAll(t, j); !equalRecords(got, recs(1, 8)) {
		t.Errorf("Replay = %d records, want 8", len(got))
	}
	if !strings.Contains(logs.String(), fmt.Sprintf("offset=%d", whole)) {
		t.Errorf("logs = %s, want the torn record cut at %d", logs.String(), whole)
	}
	for i := 9; i <= 40; i++ {
		if err := j.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	if j.Compactions() == 0 {
		t.Fatal("no compaction")
	}
	l, _ := listDir(dir)
	snap, err := os.ReadFile(filepath.Join(dir, snapName(l.snaps[len(l.snaps)-1])))
	if err != nil {
		t.Fatal(err)
	}
	if h, err := decodeHeader(snap); err != nil || h.version != version2 {
		t.Errorf("snap file header: %+v, %v; want version 2", h, err)
	}
	j = openT(t, dir, Options{})
	if got := replayAll(t, j); !equalRecords(got, recs(1, 40)) {
		t.Errorf("after compaction, Replay = %d records, want 40", len(got))
	}
}
