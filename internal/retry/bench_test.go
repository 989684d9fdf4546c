package retry

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"workqueue/internal/job"
)

// BenchmarkScheduleMillion schedules 1,000,000 jobs an hour ahead in one
// Queue and reports the heap each costs (runtime.MemStats HeapAlloc after a
// GC, less before, divided by n), the job itself included, with a short
// name and no payload: the target is at most 1 KiB a job beyond its
// payload. A million scheduled jobs hold one timer and no goroutine.
func BenchmarkScheduleMillion(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		goroutines := runtime.NumGoroutine()
		q := NewQueue(func(*job.Job) {})
		at := time.Now().Add(time.Hour)
		now := time.Now()
		for i := range n {
			r := job.New(strconv.Itoa(i+1), uint64(i+1), "job", 0, "", now, job.Policy{})
			r.RunAt = at.Add(time.Duration(i))
			q.AddScheduled(r, r.RunAt, -1)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if q.Scheduled() != n || runtime.NumGoroutine() > goroutines {
			b.Fatalf("scheduled %d with %d goroutines, want %d with at most %d", q.Scheduled(), runtime.NumGoroutine(), n, goroutines)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/job")
		q.Stop()
		runtime.KeepAlive(q)
	}
}
