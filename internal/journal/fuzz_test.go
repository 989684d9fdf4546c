package journal

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzJournal feeds arbitrary bytes to Open as the last segment and as a
// second file under one of the journal's names (or none): Open must succeed
// or fail with ErrCorrupt, never panic; a journal it opens must replay, take
// an append, and reopen with that append as its last record.
func FuzzJournal(f *testing.F) {
	v1 := appendHeaderV1(nil, kindSegment, 0)
	for i := 1; i <= 3; i++ {
		v1 = appendRecord(v1, rec(i))
	}
	snapV1 := appendRecord(appendHeaderV1(nil, kindSnap, 7), rec(1))
	v2 := buildFile(kindSegment, 42, true, recs(1, 2), recs(3, 3), recs(4, 6))
	v2never := buildFile(kindSegment, 42, false, recs(1, 2), recs(3, 3), recs(4, 6))
	snap := buildFile(kindSnap, 9, false, recs(1, 1))
	zeroed := slices.Clone(v2)
	clear(zeroed[headerSize+5 : headerSize+40]) // inside the first batch
	f.Add(v1, []byte(nil), uint8(0))
	f.Add(v1[:len(v1)-3], snapV1, uint8(1))
	f.Add(append(v1, 0, 0, 0, 0, 0), v1, uint8(2))
	f.Add([]byte("WQJRNL"), []byte("garbage"), uint8(3))
	f.Add([]byte{}, snapV1, uint8(4))
	f.Add(v2, snap, uint8(1))
	f.Add(v2[:len(v2)-7], snap, uint8(2))
	f.Add(zeroed, []byte(nil), uint8(0))
	f.Add(v2never, v2, uint8(0))
	f.Add(append(v2, 0, 0, 0), v1, uint8(3))
	names := []string{segName(1), snapName(1), snapName(9), segName(1) + tmpSuffix, "other"}
	f.Fuzz(func(t *testing.T, last, other []byte, which uint8) {
		dir := t.TempDir()
		write := func(name string, b []byte) {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write(segName(5), last)
		write(names[int(which)%len(names)], other)
		j, err := Open(dir, Options{Sync: SyncNever})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want nil or ErrCorrupt", err)
			}
			return
		}
		n := 0
		if err := j.Replay(func(Record) error { n++; return nil }); err != nil {
			t.Fatalf("Replay after a successful Open = %v", err)
		}
		tail := Record{Type: 1, Key: 1 << 40, Data: []byte("appended")}
		if err := j.Append(tail); err != nil {
			t.Fatalf("Append = %v", err)
		}
		if err := j.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
		j, err = Open(dir, Options{Sync: SyncNever})
		if err != nil {
			t.Fatalf("reopen = %v", err)
		}
		defer j.Close()
		got := replayAll(t, j)
		if len(got) != n+1 || !equalRecords(got[n:], []Record{tail}) {
			t.Fatalf("after reopen: %d records, want %d ending with the append", len(got), n+1)
		}
		if j.MaxKey() < tail.Key {
			t.Errorf("MaxKey = %d, want >= %d", j.MaxKey(), tail.Key)
		}
	})
}

// tornPage is the unit in which a power cut loses a write: a page of the
// page cache, which the kernel writes back in any order.
const tornPage = 4096

// tearLastBatch returns b, a version 2 file, as a power cut in the middle
// of writing its last batch (at offset off) may leave it: every page whose
// bit is set in lost never reached the disk (its bytes from off on are
// zeros), and the file ends at cut (if within the batch).
func tearLastBatch(b []byte, off int, lost uint64, cut int) []byte {
	b = slices.Clone(b)
	for p := off / tornPage * tornPage; p < len(b); p += tornPage {
		if lost&(1<<uint(p/tornPage%64)) != 0 {
			clear(b[max(p, off):min(p+tornPage, len(b))])
		}
	}
	if cut >= off && cut < len(b) {
		b = b[:cut]
	}
	return b
}

// FuzzTornLastBatch tears the last batch of a segment written under
// SyncAlways, its pages lost in any combination and its end cut anywhere:
// Open must cut it off whole, keep every batch before it, and log the cut;
// or, if the tear left it whole, keep it.
func FuzzTornLastBatch(f *testing.F) {
	f.Add(uint8(2), uint8(12), uint64(0b10), uint32(0))       // a page in the middle lost
	f.Add(uint8(1), uint8(12), uint64(0b1), uint32(0))        // the page of its header lost
	f.Add(uint8(3), uint8(20), uint64(0b100100), uint32(0))   // two pages lost, the end whole
	f.Add(uint8(0), uint8(1), uint64(0), uint32(40))          // the only batch cut short
	f.Add(uint8(2), uint8(30), uint64(0b1010), uint32(17000)) // pages lost and the end cut
	f.Fuzz(func(t *testing.T, before, size uint8, lost uint64, cut uint32) {
		var bs [][]Record
		k := 1
		for range before % 6 {
			bs = append(bs, recs(k, k+2))
			k += 3
		}
		head := buildFile(kindSegment, 7, true, bs...)
		off := len(head)
		last := make([]Record, 1+int(size)%40) // up to 40 KB: several pages
		for i := range last {
			last[i] = Record{Type: 1, Key: uint64(k + i), Data: []byte(strings.Repeat("x", 1000))}
		}
		full := buildFile(kindSegment, 7, true, append(bs, last)...)
		torn := tearLastBatch(full, off, lost, off+int(cut))
		dir := writeDir(t, map[string][]byte{segName(1): torn})
		var logs logBuffer
		j, err := Open(dir, Options{Logger: logs.logger()})
		if err != nil {
			t.Fatalf("Open of a segment whose last batch is torn = %v", err)
		}
		defer j.Close()
		var want []Record
		for _, b := range bs {
			want = append(want, b...)
		}
		whole := slices.Equal(torn, full)
		if whole {
			want = append(want, last...)
		}
		if got := replayAll(t, j); !equalRecords(got, want) {
			t.Fatalf("Replay = %d records, want %d (the batches before the torn one)", len(got), len(want))
		}
		st, err := os.Stat(filepath.Join(dir, segName(1)))
		if err != nil {
			t.Fatal(err)
		}
		if wantSize := int64(off); !whole && st.Size() != wantSize {
			t.Errorf("size after the cut = %d, want %d (the torn batch's offset)", st.Size(), wantSize)
		}
		if !whole && len(torn) > off && !strings.Contains(logs.String(), "cutting torn tail") {
			t.Errorf("no warning for the cut; logs:\n%s", logs.String())
		}
	})
}
