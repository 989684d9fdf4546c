package main

import (
	"bytes"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"workqueue/internal/pool"
)

// Stats counts what happened to the server's jobs. Every field is safe for
// concurrent use; each job is counted once in Accepted and, when it ends, once
// in exactly one of Done, Canceled and Failed.
type Stats struct {
	Accepted         atomic.Int64 // requests queued (answered 201), counted by WorkQueue
	RejectedFull     atomic.Int64 // requests answered 503 because WorkQueue was full
	RejectedDraining atomic.Int64 // requests answered 503 because the server was draining
	RejectedInvalid  atomic.Int64 // requests to POST /work answered 400, 413 or 415
	RejectedJournal  atomic.Int64 // requests answered 503 because the journal could not be written
	Replayed         atomic.Int64 // unfinished jobs queued again from the journal at start
	Done             atomic.Int64 // jobs that completed and printed their greeting
	Canceled         atomic.Int64 // jobs canceled, queued or running
	Failed           atomic.Int64 // jobs whose work failed or panicked, or was abandoned
	Busy             atomic.Int64 // workers running a job now
	Wait             *Histogram   // time from acceptance to start, for each started job
	Fsync            *Histogram   // how long each fsync of the journal took
}

// NewStats returns zeroed Stats.
func NewStats() *Stats {
	return &Stats{
		Wait: NewHistogram(
			time.Millisecond, 2500*time.Microsecond, 5*time.Millisecond,
			10*time.Millisecond, 25*time.Millisecond, 50*time.Millisecond,
			100*time.Millisecond, 250*time.Millisecond, 500*time.Millisecond,
			time.Second, 2500*time.Millisecond, 5*time.Second,
			10*time.Second, 30*time.Second, time.Minute,
		),
		Fsync: NewHistogram(
			100*time.Microsecond, 250*time.Microsecond, 500*time.Microsecond,
			time.Millisecond, 2500*time.Microsecond, 5*time.Millisecond,
			10*time.Millisecond, 25*time.Millisecond, 50*time.Millisecond,
			100*time.Millisecond, 250*time.Millisecond, time.Second,
		),
	}
}

// Unfinished returns how many accepted jobs have not reached a final state.
// It reads the finished counters before Accepted, so it never counts a job as
// finished that it has not counted as accepted.
func (s *Stats) Unfinished() int64 {
	finished := s.Done.Load() + s.Canceled.Load() + s.Failed.Load()
	return max(s.Accepted.Load()-finished, 0)
}

// Histogram counts durations in buckets, for a Prometheus histogram.
type Histogram struct {
	bounds []time.Duration // upper bounds of the buckets, ascending; never changed
	counts []atomic.Int64  // counts[i]: observations in (bounds[i-1], bounds[i]]; the last is above every bound
	sum    atomic.Int64    // of all observations, in nanoseconds
}

// NewHistogram returns a Histogram with buckets up to the given bounds,
// which must be ascending, and one above them all.
func NewHistogram(bounds ...time.Duration) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]atomic.Int64, len(bounds)+1)}
}

// Observe counts d.
func (h *Histogram) Observe(d time.Duration) {
	i, _ := slices.BinarySearch(h.bounds, d)
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// writeMetrics writes s, and the server's gauges, in the Prometheus text
// exposition format, version 0.0.4.
func writeMetrics(b *bytes.Buffer, s *Stats, q *WorkQueue, pool *pool.Pool) {
	workers, _ := pool.Counts()
	// Busy never exceeds the workers alive at one instant, but these are
	// two reads: a grow, or a shrink, between them could make busy exceed
	// workers in the document. Clamp, as GET /workers does.
	busy := min(s.Busy.Load(), int64(workers))
	family(b, "workqueue_jobs_accepted_total", "counter", "Jobs accepted: answered 201 and queued.")
	sample(b, "workqueue_jobs_accepted_total", "", s.Accepted.Load())
	family(b, "workqueue_jobs_rejected_total", "counter",
		"Job submissions refused: full (queue full, 503), draining (shutting down, 503), invalid (400, 413, 415), journal (the journal cannot be written, 503).")
	sample(b, "workqueue_jobs_rejected_total", `reason="full"`, s.RejectedFull.Load())
	sample(b, "workqueue_jobs_rejected_total", `reason="draining"`, s.RejectedDraining.Load())
	sample(b, "workqueue_jobs_rejected_total", `reason="invalid"`, s.RejectedInvalid.Load())
	sample(b, "workqueue_jobs_rejected_total", `reason="journal"`, s.RejectedJournal.Load())
	family(b, "workqueue_jobs_finished_total", "counter", "Jobs that reached a final state, by that state.")
	sample(b, "workqueue_jobs_finished_total", `state="done"`, s.Done.Load())
	sample(b, "workqueue_jobs_finished_total", `state="canceled"`, s.Canceled.Load())
	sample(b, "workqueue_jobs_finished_total", `state="failed"`, s.Failed.Load())
	family(b, "workqueue_queue_length", "gauge", "Jobs waiting for a worker: queued, not canceled, the one the dispatcher holds included.")
	sample(b, "workqueue_queue_length", "", int64(q.Len()))
	family(b, "workqueue_queue_capacity", "gauge", "How many jobs may wait for a worker (-queue); jobs replayed or retried may exceed it.")
	sample(b, "workqueue_queue_capacity", "", int64(q.Cap()))
	family(b, "workqueue_workers", "gauge", "Workers alive: -n at start, then as PUT /workers sets; a retiring worker counts until its job ends.")
	sample(b, "workqueue_workers", "", int64(workers))
	family(b, "workqueue_workers_busy", "gauge", "Workers running a job now.")
	sample(b, "workqueue_workers_busy", "", busy)
	s.Wait.write(b, "workqueue_job_wait_seconds", "Time from a job's acceptance to its start on a worker.")
	family(b, "workqueue_jobs_replayed_total", "counter", "Unfinished jobs queued again from the journal at start.")
	sample(b, "workqueue_jobs_replayed_total", "", s.Replayed.Load())
	family(b, "workqueue_goroutines", "gauge", "Goroutines in the process: flat under load, whatever the number of jobs.")
	sample(b, "workqueue_goroutines", "", int64(runtime.NumGoroutine()))
}

// write writes h as the histogram family name.
func (h *Histogram) write(b *bytes.Buffer, name, help string) {
	family(b, name, "histogram", help)
	var cumulative int64
	for i := range h.counts {
		cumulative += h.counts[i].Load()
		le := "+Inf"
		if i < len(h.bounds) {
			le = strconv.FormatFloat(h.bounds[i].Seconds(), 'g', -1, 64)
		}
		sample(b, name+"_bucket", `le="`+le+`"`, cumulative)
	}
	fmt.Fprintf(b, "%s_sum %s\n", name, strconv.FormatFloat(time.Duration(h.sum.Load()).Seconds(), 'g', -1, 64))
	sample(b, name+"_count", "", cumulative)
}

// family writes the HELP and TYPE lines of a metric family.
func family(b *bytes.Buffer, name, typ, help string) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// sample writes one sample line; labels, if any, are already formatted.
func sample(b *bytes.Buffer, name, labels string, v int64) {
	b.WriteString(name)
	if labels != "" {
		b.WriteString("{" + labels + "}")
	}
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(v, 10))
	b.WriteByte('\n')
}

// metrics handles GET /metrics.
func (s *server) metrics(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	writeMetrics(&b, s.stats, s.queue, s.pool)
	s.attempts.write(&b, s.retry.queue.Len())
	family(&b, "workqueue_log_lines_dropped_total", "counter",
		"Log lines dropped because standard error was not taking them.")
	sample(&b, "workqueue_log_lines_dropped_total", "", s.logDropped.Load())
	s.writeJournalMetrics(&b)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(b.Bytes())
}
