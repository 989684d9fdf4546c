package journal

import (
	"errors"
	"testing"
)

func TestReplayOrderAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, Options{Sync: SyncNever, SegmentBytes: 512})
	var want []Record
	for i := 1; i <= 300; i++ {
		want = append(want, rec(i))
		if err := j.Append(rec(i)); err != nil {
			t.Fatalf("Append(%d) = %v", i, err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if n := len(snapshotDir(t, dir)); n < 5 {
		t.Fatalf("%d files, want several segments", n)
	}
	j = openT(t, dir, Options{})
	if got := replayAll(t, j); !equalRecords(got, want) {
		t.Errorf("Replay returned %d records, want %d in order", len(got), len(want))
	}
	if got := j.MaxKey(); got != 300 {
		t.Errorf("MaxKey = %d, want 300", got)
	}
}

func TestReplayOnceBeforeAppend(t *testing.T) {
	j := openT(t, t.TempDir(), Options{})
	if err := j.Append(rec(1)); err != nil {
		t.Fatal(err)
	}
	if err := j.Replay(func(Record) error { return nil }); err == nil {
		t.Errorf("Replay after Append = nil, want an error")
	}
}

func TestAppendRefusals(t *testing.T) {
	j := openT(t, t.TempDir(), Options{})
	if err := j.Append(Record{Type: 0}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Append(type 0) = %v, want ErrInvalid", err)
	}
	if err := j.Append(Record{Type: 1, Data: make([]byte, MaxData+1)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Append(too large) = %v, want ErrInvalid", err)
	}
	big := Record{Type: 1, Data: make([]byte, MaxData)}
	if err := j.Append(big, big); !errors.Is(err, ErrInvalid) {
		t.Errorf("Append(2 MiB in one call) = %v, want ErrInvalid", err)
	}
	if err := j.Append(); err != nil {
		t.Errorf("Append() = %v, want nil", err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := j.Append(rec(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	if err := j.AppendAsync(rec(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("AppendAsync after Close = %v, want ErrClosed", err)
	}
	if err := j.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

func TestAppendAsyncWrittenByClose(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, Options{})
	for i := 1; i <= 10; i++ {
		if err := j.AppendAsync(rec(i)); err != nil {
			t.Fatalf("AppendAsync = %v", err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = openT(t, dir, Options{})
	if got := replayAll(t, j); len(got) != 10 {
		t.Errorf("Replay after AppendAsync: %d records, want 10", len(got))
	}
}

func TestMaxKeySurvivesCompaction(t *testing.T) {
	dir := t.TempDir()
	o := Options{Sync: SyncNever, SegmentBytes: 256, Live: func(uint64) bool { return false }}
	j := openT(t, dir, o)
	for i := 1; i <= 500; i++ {
		if err := j.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	keep := Record{Type: 9, Key: 0, Data: []byte("kept: key 0")}
	if err := j.Append(keep); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if j.Compactions() == 0 {
		t.Fatalf("Compactions = 0, want > 0")
	}
	j = openT(t, dir, Options{})
	if got := j.MaxKey(); got != 500 {
		t.Errorf("MaxKey after compaction = %d, want 500", got)
	}
	got := replayAll(t, j)
	if len(got) == 0 || !equalRecords(got[len(got)-1:], []Record{keep}) {
		t.Errorf("key-0 record not replayed last")
	}
	if len(got) > 200 {
		t.Errorf("Replay = %d records; compaction should have dropped most of 500", len(got))
	}
}
