package journal

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// smallJournal writes n records, one Append (so one batch) each, into a new
// journal with tiny segments under SyncAlways, and returns its files, the
// records, and the name of the last segment.
func smallJournal(t *testing.T, n int) (files map[string][]byte, recs []Record, last string) {
	t.Helper()
	dir := t.TempDir()
	j := openT(t, dir, Options{SegmentBytes: 200})
	for i := 1; i <= n; i++ {
		recs = append(recs, rec(i))
		if err := j.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	files = snapshotDir(t, dir)
	names := slices.Sorted(maps.Keys(files))
	return files, recs, names[len(names)-1]
}

// smallJournalV1 is smallJournal's journal as the previous version of the
// format would have written it: the same records, no batch headers.
func smallJournalV1(t *testing.T, n int) (files map[string][]byte, recs []Record, last string) {
	t.Helper()
	files, recs, last = smallJournal(t, n)
	for name, b := range files {
		files[name] = toV1(t, b)
	}
	return files, recs, last
}

// eachVersion runs f on smallJournal's 20 records in both versions.
func eachVersion(t *testing.T, f func(t *testing.T, files map[string][]byte, recs []Record, last string)) {
	for _, v := range []struct {
		name  string
		small func(*testing.T, int) (map[string][]byte, []Record, string)
	}{{"v1", smallJournalV1}, {"v2", smallJournal}} {
		t.Run(v.name, func(t *testing.T) {
			files, recs, last := v.small(t, 20)
			f(t, files, recs, last)
		})
	}
}

// keptAt returns, for each record of a file's bytes, the shortest length
// the file may be cut to and keep it: the end of the record in a version 1
// file, the end of its batch in a version 2 file.
func keptAt(t testing.TB, b []byte) []int {
	h, err := decodeHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	var ends []int
	if h.version == version1 {
		for off := h.size; off < len(b); {
			_, n, ok := decodeRecord(b[off:])
			if !ok {
				break
			}
			off += n
			ends = append(ends, off)
		}
		return ends
	}
	for _, bt := range batches(t, b) {
		for range bt.recs {
			ends = append(ends, bt.end)
		}
	}
	return ends
}

func TestTruncateLastFileAtEveryOffset(t *testing.T) {
	eachVersion(t, func(t *testing.T, files map[string][]byte, recs []Record, last string) {
		if len(files) < 3 {
			t.Fatalf("%d files, want at least 3", len(files))
		}
		h, _ := decodeHeader(files[last])
		ends := keptAt(t, files[last])
		before := len(recs) - len(ends) // records in the sealed files
		for cut := 0; cut < len(files[last]); cut++ {
			cutFiles := maps.Clone(files)
			cutFiles[last] = files[last][:cut]
			dir := writeDir(t, cutFiles)
			var logs logBuffer
			j, err := Open(dir, Options{Logger: logs.logger()})
			if err != nil {
				t.Fatalf("cut at %d: Open = %v", cut, err)
			}
			want := recs[:before]
			for i, end := range ends {
				if end <= cut {
					want = recs[:before+i+1]
				}
			}
			got := replayAll(t, j)
			if !equalRecords(got, want) {
				t.Errorf("cut at %d: Replay = %d records, want %d", cut, len(got), len(want))
			}
			if cut > 0 && !slices.Contains(append(ends, h.size), cut) && !strings.Contains(logs.String(), last) {
				t.Errorf("cut at %d: no warning naming %s; logs: %s", cut, last, logs.String())
			}
			// The repaired journal takes appends and replays them after the rest.
			if err := j.Append(rec(99)); err != nil {
				t.Fatalf("cut at %d: Append after repair = %v", cut, err)
			}
			j.Close()
			j = openT(t, dir, Options{})
			if got := replayAll(t, j); !equalRecords(got, append(slices.Clone(want), rec(99))) {
				t.Errorf("cut at %d: after an append, Replay = %d records, want %d", cut, len(got), len(want)+1)
			}
			j.Close()
		}
	})
}

func TestTornTailForms(t *testing.T) {
	eachVersion(t, func(t *testing.T, files map[string][]byte, recs []Record, last string) {
		tests := []struct {
			name string
			tail func(b []byte) []byte
			keep int // records of the last file kept
		}{
			{"trailing zeros", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, -1},
			{"bad CRC on the last record", func(b []byte) []byte {
				b = slices.Clone(b)
				b[len(b)-1] ^= 0xff
				return b
			}, -2},
			{"half a record", func(b []byte) []byte { return append(b, appendRecord(nil, rec(77))[:10]...) }, -1},
			{"half a batch", func(b []byte) []byte {
				h, _ := decodeHeader(b)
				more := append(make([]byte, batchHeaderSize), appendRecord(nil, rec(77))...)
				putBatchHeader(more, int64(len(b)), int64(len(b)), h.salt)
				return append(b, more[:len(more)-3]...)
			}, -1},
		}
		ends := keptAt(t, files[last])
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := maps.Clone(files)
				f[last] = tt.tail(files[last])
				dir := writeDir(t, f)
				j := openT(t, dir, Options{})
				want := recs[:len(recs)+tt.keep+1]
				if got := replayAll(t, j); !equalRecords(got, want) {
					t.Errorf("Replay = %d records, want %d", len(got), len(want))
				}
				b, _ := os.ReadFile(filepath.Join(dir, last))
				wantSize := ends[len(ends)-1]
				if tt.keep == -2 {
					wantSize = ends[len(ends)-2]
				}
				if len(b) != wantSize {
					t.Errorf("%s is %d bytes after repair, want %d", last, len(b), wantSize)
				}
			})
		}
	})
}

// damageCase is a byte of a file flipped, and the offset the error must name.
type damageCase struct {
	name    string
	file    string
	at      int // byte flipped
	wantOff int // offset the error names
}

// checkDamage flips each case's byte and checks that Open refuses, naming
// the file and offset, and changes nothing.
func checkDamage(t *testing.T, files map[string][]byte, tests []damageCase) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := maps.Clone(files)
			f[tt.file] = slices.Clone(files[tt.file])
			f[tt.file][tt.at] ^= 0x40
			dir := writeDir(t, f)
			before := snapshotDir(t, dir)
			j, err := Open(dir, Options{})
			if err == nil {
				j.Close()
				t.Fatalf("Open = nil, want ErrCorrupt")
			}
			want := fmt.Sprintf("%s at offset %d", filepath.Join(dir, tt.file), tt.wantOff)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) {
				t.Errorf("Open = %v, want ErrCorrupt naming %q", err, want)
			}
			if after := snapshotDir(t, dir); !maps.EqualFunc(before, after, slices.Equal) {
				t.Errorf("Open changed the directory: %v, want %v", slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(before)))
			}
		})
	}
}

func TestDamageRefusedV1(t *testing.T) {
	files, _, last := smallJournalV1(t, 20)
	names := slices.Sorted(maps.Keys(files))
	sealed := names[0]
	lastEnds := keptAt(t, files[last])
	sealedEnds := keptAt(t, files[sealed])
	const hs = headerSizeV1
	checkDamage(t, files, []damageCase{
		{"header of the last file", last, 3, 0},
		{"length of a record followed by one", last, hs, hs},
		{"CRC of a record followed by one", last, hs + 5, hs},
		{"type of a record followed by one", last, hs + 8, hs},
		{"data of a record followed by one", last, lastEnds[0] - 1, hs},
		{"last record of a sealed file", sealed, sealedEnds[len(sealedEnds)-1] - 1, sealedEnds[len(sealedEnds)-2]},
		{"header of a sealed file", sealed, 0, 0},
	})
}

func TestDamageRefused(t *testing.T) {
	files, _, last := smallJournal(t, 20)
	names := slices.Sorted(maps.Keys(files))
	sealed := names[0]
	lb, sb := batches(t, files[last]), batches(t, files[sealed])
	if len(lb) < 2 || len(sb) < 2 {
		t.Fatalf("%d batches in the last file, %d in a sealed one; want at least 2", len(lb), len(sb))
	}
	first, slast := lb[0], sb[len(sb)-1]
	checkDamage(t, files, []damageCase{
		{"header of the last file", last, 3, 0},
		{"salt of the last file", last, 18, 0},
		{"length of a batch followed by one", last, first.off, first.off},
		{"offset of a batch followed by one", last, first.off + 4, first.off},
		{"synced of a batch followed by one", last, first.off + 12, first.off},
		{"records CRC of a batch followed by one", last, first.off + 20, first.off},
		{"header CRC of a batch followed by one", last, first.off + 24, first.off},
		{"length of a record of a batch followed by one", last, first.recs[0], first.off},
		{"CRC of a record of a batch followed by one", last, first.recs[0] + 5, first.off},
		{"type of a record of a batch followed by one", last, first.recs[0] + 8, first.off},
		{"data of a record of a batch followed by one", last, first.end - 1, first.off},
		{"last batch of a sealed file", sealed, slast.end - 1, slast.off},
		{"header of a sealed file", sealed, 0, 0},
	})
}

func TestEveryFlippedByteRefusedOrCut(t *testing.T) {
	// A flipped byte anywhere in the last file but its last record (v1) or
	// batch (v2) is damage; in it, a torn tail.
	eachVersion(t, func(t *testing.T, files map[string][]byte, recs []Record, last string) {
		ends := keptAt(t, files[last])
		lastStart := ends[len(ends)-2]
		for at := 0; at < len(files[last]); at++ {
			f := maps.Clone(files)
			f[last] = slices.Clone(files[last])
			f[last][at] ^= 0x01
			dir := writeDir(t, f)
			before := snapshotDir(t, dir)
			j, err := Open(dir, Options{})
			if at >= lastStart {
				if err != nil {
					t.Errorf("flip at %d, in the last batch: Open = %v, want it cut", at, err)
					continue
				}
				if got := replayAll(t, j); !equalRecords(got, recs[:len(recs)-1]) {
					t.Errorf("flip at %d, in the last batch: Replay = %d records, want %d", at, len(got), len(recs)-1)
				}
				j.Close()
				continue
			}
			if err == nil {
				j.Close()
				t.Errorf("flip at %d: Open = nil, want ErrCorrupt", at)
				continue
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("flip at %d: Open = %v, want ErrCorrupt", at, err)
			}
			if after := snapshotDir(t, dir); !maps.EqualFunc(before, after, slices.Equal) {
				t.Errorf("flip at %d: Open changed the directory", at)
			}
		}
	})
}

func TestLeftoversRemovedAndUnknownFilesKept(t *testing.T) {
	files, recs, _ := smallJournal(t, 20)
	f := maps.Clone(files)
	f[snapName(1)+tmpSuffix] = []byte("half a compaction")
	f["notes.txt"] = []byte("the operator's notes")
	f["seg-zz.wqj"] = []byte("not a journal name")
	dir := writeDir(t, f)
	j := openT(t, dir, Options{})
	if got := replayAll(t, j); !equalRecords(got, recs) {
		t.Errorf("Replay = %d records, want %d", len(got), len(recs))
	}
	after := snapshotDir(t, dir)
	if _, ok := after[snapName(1)+tmpSuffix]; ok {
		t.Errorf("leftover .tmp file still there")
	}
	for _, name := range []string{"notes.txt", "seg-zz.wqj"} {
		if _, ok := after[name]; !ok {
			t.Errorf("unknown file %s was removed", name)
		}
	}
}

func TestRandomGarbageFiles(t *testing.T) {
	files, _, _ := smallJournal(t, 20)
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{segName(1), segName(2), segName(100), snapName(1), snapName(50), snapName(3) + tmpSuffix, "garbage"}
	for i := range 100 {
		f := maps.Clone(files)
		for range 1 + rng.IntN(3) {
			b := make([]byte, rng.IntN(600))
			for k := range b {
				b[k] = byte(rng.Uint32())
			}
			switch {
			case rng.IntN(3) == 0 && len(b) >= headerSize:
				copy(b, appendHeader(nil, byte(1+rng.IntN(2)), 0, 0))
			case rng.IntN(2) == 0 && len(b) >= headerSizeV1:
				copy(b, appendHeaderV1(nil, byte(1+rng.IntN(2)), 0))
			}
			f[names[rng.IntN(len(names))]] = b
		}
		dir := writeDir(t, f)
		j, err := Open(dir, Options{})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("case %d: Open = %v, want nil or ErrCorrupt", i, err)
			}
			continue
		}
		if err := j.Replay(func(Record) error { return nil }); err != nil {
			t.Errorf("case %d: Replay = %v after a successful Open", i, err)
		}
		j.Close()
	}
}
