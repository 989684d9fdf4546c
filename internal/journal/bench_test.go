package journal

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppendAlways measures concurrent Appends under SyncAlways (64
// goroutines on 2 CPUs) and reports how many appends share each fsync.
func BenchmarkAppendAlways(b *testing.B) {
	var fsyncs, appends atomic.Int64
	j, err := Open(b.TempDir(), Options{OnFsync: func(time.Duration) { fsyncs.Add(1) }})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		r := Record{Type: 1, Key: 1, Data: []byte(`{"name":"bench","delay":"0s"}`)}
		for pb.Next() {
			if err := j.Append(r); err != nil {
				b.Error(err)
				return
			}
			appends.Add(1)
		}
	})
	if n := fsyncs.Load(); n > 0 {
		b.ReportMetric(float64(appends.Load())/float64(n), "appends/fsync")
	}
}

// BenchmarkReplay100k measures Open and Replay of a journal of 100,000
// records (the SPEC's replay target is under 1 s).
func BenchmarkReplay100k(b *testing.B) {
	dir := b.TempDir()
	j, err := Open(dir, Options{Sync: SyncNever})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]Record, 0, 1000)
	for i := 1; i <= 100_000; i += 1000 {
		recs = recs[:0]
		for k := i; k < i+1000; k++ {
			recs = append(recs, Record{Type: 1, Key: uint64(k), Data: []byte(`{"name":"a job name","delay":"1s","enqueued_at":"2026-11-29T13:00:00Z"}`)})
		}
		if err := j.Append(recs...); err != nil {
			b.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		j, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		if err := j.Replay(func(Record) error { n++; return nil }); err != nil || n != 100_000 {
			b.Fatalf("Replay = %v, %d records; want 100000", err, n)
		}
		j.Close()
	}
}
