package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// openT opens the journal in dir and closes it when the test ends.
func openT(t testing.TB, dir string, o Options) *Journal {
	t.Helper()
	j, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// rec returns the i-th test record: key i, a type and data derived from i.
func rec(i int) Record {
	return Record{Type: byte(1 + i%3), Key: uint64(i), Data: fmt.Appendf(nil, "job-%d", i)}
}

// replayAll replays j and returns every record.
func replayAll(t testing.TB, j *Journal) []Record {
	t.Helper()
	var got []Record
	if err := j.Replay(func(r Record) error {
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatalf("Replay = %v", err)
	}
	return got
}

// equalRecords reports whether a and b hold the same records in order.
func equalRecords(a, b []Record) bool {
	return slices.EqualFunc(a, b, func(x, y Record) bool {
		return x.Type == y.Type && x.Key == y.Key && bytes.Equal(x.Data, y.Data)
	})
}

// snapshotDir returns every file of dir but LOCK, by name, with its bytes.
func snapshotDir(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string][]byte)
	for _, e := range ents {
		if e.Name() == lockName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = b
	}
	return m
}

// writeDir writes files into a new temporary directory and returns it.
func writeDir(t testing.TB, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// errInjected is the error a faultyFile returns when told to fail.
var errInjected = errors.New("injected I/O error")

// faultyFile wraps a segment file: it counts writes and fsyncs, fails them
// when told to, and can hold each fsync until the test releases it.
type faultyFile struct {
	f          *os.File
	failWrite  atomic.Bool
	shortWrite atomic.Bool // write the first half, then fail, as a full disk does
	failSync   atomic.Bool
	writes     atomic.Int64
	syncs      atomic.Int64
	syncing    chan struct{} // if not nil, Sync sends on it, then waits on release
	release    chan struct{}
}

// Write counts the write and fails it if told to.
func (f *faultyFile) Write(b []byte) (int, error) {
	f.writes.Add(1)
	if f.failWrite.Load() {
		return 0, errInjected
	}
	if f.shortWrite.Load() {
		n, _ := f.f.Write(b[:len(b)/2])
		return n, errInjected
	}
	return f.f.Write(b)
}

// Sync counts the fsync, waits for the test if it holds fsyncs, and fails
// it if told to.
func (f *faultyFile) Sync() error {
	f.syncs.Add(1)
	if f.syncing != nil {
		f.syncing <- struct{}{}
		<-f.release
	}
	if f.failSync.Load() {
		return errInjected
	}
	return f.f.Sync()
}

// Truncate truncates the file.
func (f *faultyFile) Truncate(size int64) error { return f.f.Truncate(size) }

// Stat returns the file's fstat(2).
func (f *faultyFile) Stat() (os.FileInfo, error) { return f.f.Stat() }

// Close closes the file.
func (f *faultyFile) Close() error { return f.f.Close() }

// withFaulty sets o to wrap every new segment in ff (sharing its switches).
func withFaulty(o Options, ff *faultyFile) Options {
	o.wrap = func(f *os.File) segmentFile {
		ff.f = f
		return ff
	}
	return o
}

// logBuffer is a concurrency-safe buffer for a test's logs.
type logBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

// Write appends b to the buffer.
func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

// String returns what was logged.
func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// logger returns a logger writing text to l.
func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// appendHeaderV1 appends a version 1 file header (doc.go) to b: what the
// journal wrote before batches were framed.
func appendHeaderV1(b []byte, kind byte, baseMaxKey uint64) []byte {
	start := len(b)
	b = append(b, magic...)
	b = append(b, version1, kind)
	b = binary.LittleEndian.AppendUint64(b, baseMaxKey)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// toV1 returns a version 2 file's header and records as a version 1 file:
// the same records back to back, without batch headers.
func toV1(t testing.TB, b []byte) []byte {
	t.Helper()
	h, err := decodeHeader(b)
	if err != nil || h.version != version2 {
		t.Fatalf("toV1: not a valid version 2 file: %v", err)
	}
	out := appendHeaderV1(nil, h.kind, h.baseMaxKey)
	end, _, _ := walk(b, h, func(r Record) error {
		out = appendRecord(out, r)
		return nil
	})
	if end != len(b) {
		t.Fatalf("toV1: bad batch at offset %d", end)
	}
	return out
}

// batch is one batch of a version 2 file, as batches returns it.
type batch struct {
	off, end int   // where it starts (its header) and ends
	recs     []int // where each of its records starts
}

// batches returns the batches of a valid version 2 file's bytes.
func batches(t testing.TB, b []byte) []batch {
	t.Helper()
	h, err := decodeHeader(b)
	if err != nil || h.version != version2 {
		t.Fatalf("batches: not a valid version 2 file: %v", err)
	}
	var bs []batch
	for off := h.size; off < len(b); {
		end, why := checkBatch(b, off, h.salt)
		if why != "" {
			t.Fatalf("batches: offset %d: %s", off, why)
		}
		bt := batch{off: off, end: end}
		for p := off + batchHeaderSize; p < end; {
			_, n, _ := decodeRecord(b[p:end])
			bt.recs = append(bt.recs, p)
			p += n
		}
		bs = append(bs, bt)
		off = end
	}
	return bs
}

// buildFile returns a version 2 file of the given kind and salt holding
// one batch of each element of batches, as the writer frames them. durable
// says each batch was written once the file was fsynced up to it (as under
// SyncAlways); otherwise only the header was (as under SyncNever).
func buildFile(kind byte, salt uint64, durable bool, batches ...[]Record) []byte {
	b := appendHeader(nil, kind, 0, salt)
	for _, recs := range batches {
		off := len(b)
		b = append(b, make([]byte, batchHeaderSize)...)
		for _, r := range recs {
			b = appendRecord(b, r)
		}
		synced := int64(headerSize)
		if durable {
			synced = int64(off)
		}
		putBatchHeader(b[off:], int64(off), synced, salt)
	}
	return b
}

// recs returns the test records from..to, inclusive.
func recs(from, to int) []Record {
	var rs []Record
	for i := from; i <= to; i++ {
		rs = append(rs, rec(i))
	}
	return rs
}
