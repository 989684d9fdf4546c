package journal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzJournal feeds arbitrary bytes to Open as the last segment and as a
// second file under one of the journal's names (or none): Open must succeed
// or fail with ErrCorrupt, never panic; a journal it opens must replay, take
// an append, and reopen with that append as its last record.
func FuzzJournal(f *testing.F) {
	valid := appendHeader(nil, kindSegment, 0)
	for i := 1; i <= 3; i++ {
		valid = appendRecord(valid, rec(i))
	}
	snap := appendRecord(appendHeader(nil, kindSnap, 7), rec(1))
	f.Add(valid, []byte(nil), uint8(0))
	f.Add(valid[:len(valid)-3], snap, uint8(1))
	f.Add(append(valid, 0, 0, 0, 0, 0), valid, uint8(2))
	f.Add([]byte("WQJRNL"), []byte("garbage"), uint8(3))
	f.Add([]byte{}, snap, uint8(4))
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
