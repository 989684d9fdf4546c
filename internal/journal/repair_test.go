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

// smallJournal writes n records into a new journal with tiny segments and
// returns its files, the records, and the name of the last segment.
func smallJournal(t *testing.T, n int) (files map[string][]byte, recs []Record, last string) {
	t.Helper()
	dir := t.TempDir()
	j := openT(t, dir, Options{Sync: SyncNever, SegmentBytes: 200})
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

// recordEnds returns the end offset of each record of a file's bytes.
func recordEnds(b []byte) []int {
	var ends []int
	off := headerSize
	for off < len(b) {
		_, n, ok := decodeRecord(b[off:])
		if !ok {
			break
		}
		off += n
		ends = append(ends, off)
	}
	return ends
}

func TestTruncateLastFileAtEveryOffset(t *testing.T) {
	files, recs, last := smallJournal(t, 20)
	if len(files) < 3 {
		t.Fatalf("%d files, want at least 3", len(files))
	}
	ends := recordEnds(files[last])
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
		if cut > 0 && !slices.Contains(append(ends, headerSize), cut) && !strings.Contains(logs.String(), last) {
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
}

func TestTornTailForms(t *testing.T) {
	files, recs, last := smallJournal(t, 20)
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
	}
	ends := recordEnds(files[last])
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
}

func TestDamageRefused(t *testing.T) {
	files, _, last := smallJournal(t, 20)
	names := slices.Sorted(maps.Keys(files))
	sealed := names[0]
	lastEnds := recordEnds(files[last])
	sealedEnds := recordEnds(files[sealed])
	tests := []struct {
		name    string
		file    string
		at      int // byte flipped
		wantOff int // offset the error names
	}{
		{"header of the last file", last, 3, 0},
		{"length of a record followed by one", last, headerSize, headerSize},
		{"CRC of a record followed by one", last, headerSize + 5, headerSize},
		{"type of a record followed by one", last, headerSize + 8, headerSize},
		{"data of a record followed by one", last, lastEnds[0] - 1, headerSize},
		{"last record of a sealed file", sealed, sealedEnds[len(sealedEnds)-1] - 1, sealedEnds[len(sealedEnds)-2]},
		{"header of a sealed file", sealed, 0, 0},
	}
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

func TestEveryFlippedByteRefusedOrCut(t *testing.T) {
	// A flipped byte anywhere in the last file but its last record is damage.
	files, _, last := smallJournal(t, 20)
	ends := recordEnds(files[last])
	for at := 0; at < ends[len(ends)-2]; at++ {
		f := maps.Clone(files)
		f[last] = slices.Clone(files[last])
		f[last][at] ^= 0x01
		dir := writeDir(t, f)
		before := snapshotDir(t, dir)
		j, err := Open(dir, Options{})
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
			if rng.IntN(2) == 0 && len(b) >= headerSize {
				copy(b, appendHeader(nil, byte(1+rng.IntN(2)), 0))
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
