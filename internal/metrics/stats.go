package metrics

import (
	"sync/atomic"
	"time"
)

// Stats counts what happened to the server's jobs. Every field is safe for
// concurrent use; each job is counted once in Accepted and, each time it
// ends, once in exactly one of Done, Canceled and Failed: a job that
// POST /work/<id>/retry runs again is counted in Retried, and ends once more.
type Stats struct {
	Accepted         atomic.Int64 // requests queued or scheduled (answered 201), counted by WorkQueue or the Collector
	RejectedFull     atomic.Int64 // requests answered 503 because WorkQueue was full
	RejectedDraining atomic.Int64 // requests answered 503 because the server was draining
	RejectedInvalid  atomic.Int64 // requests to POST /work answered 400, 413 or 415
	RejectedJournal  atomic.Int64 // requests answered 503 because the journal could not be written
	// RejectedScheduled counts requests answered 503 because -max-scheduled
	// jobs waited for their run_at; RejectedPayload, because the unfinished
	// jobs' payloads held their bound.
	RejectedScheduled, RejectedPayload atomic.Int64
	// RejectedUnauthorized counts requests to POST /work answered 401:
	// without one of -token-file's tokens.
	RejectedUnauthorized atomic.Int64
	Replayed             atomic.Int64 // unfinished jobs queued again from the journal at start
	Retried              atomic.Int64 // finished jobs queued again by POST /work/<id>/retry, counted before they are queued
	Done                 atomic.Int64 // jobs that completed and printed their greeting
	Canceled             atomic.Int64 // jobs canceled, queued or running
	Failed               atomic.Int64 // jobs whose work failed or panicked, or was abandoned
	Busy                 atomic.Int64 // workers running a job now
	Wait                 *Histogram   // time from acceptance to start, for each started job
	Fsync                *Histogram   // how long each fsync of the journal took
	Started              time.Time    // when the counters began: the server's start, so they count since then
}

// NewStats returns zeroed Stats, Started now.
func NewStats() *Stats {
	return &Stats{
		Started: time.Now(),
		Wait: newHistogram(
			time.Millisecond, 2500*time.Microsecond, 5*time.Millisecond,
			10*time.Millisecond, 25*time.Millisecond, 50*time.Millisecond,
			100*time.Millisecond, 250*time.Millisecond, 500*time.Millisecond,
			time.Second, 2500*time.Millisecond, 5*time.Second,
			10*time.Second, 30*time.Second, time.Minute,
		),
		Fsync: newHistogram(
			100*time.Microsecond, 250*time.Microsecond, 500*time.Microsecond,
			time.Millisecond, 2500*time.Microsecond, 5*time.Millisecond,
			10*time.Millisecond, 25*time.Millisecond, 50*time.Millisecond,
			100*time.Millisecond, 250*time.Millisecond, time.Second,
		),
	}
}

// Unfinished returns how many accepted or retried jobs have not reached a
// final state. It reads the finished counters before Accepted and Retried,
// so it never counts a job as finished that it has not counted as accepted
// or retried.
func (s *Stats) Unfinished() int64 {
	finished := s.Done.Load() + s.Canceled.Load() + s.Failed.Load()
	return max(s.Accepted.Load()+s.Retried.Load()-finished, 0)
}
