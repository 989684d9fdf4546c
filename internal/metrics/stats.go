package metrics

import (
	"sync/atomic"
	"time"
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
	// RejectedUnauthorized counts requests to POST /work answered 401:
	// without one of -token-file's tokens.
	RejectedUnauthorized atomic.Int64
	Replayed             atomic.Int64 // unfinished jobs queued again from the journal at start
	Done                 atomic.Int64 // jobs that completed and printed their greeting
	Canceled             atomic.Int64 // jobs canceled, queued or running
	Failed               atomic.Int64 // jobs whose work failed or panicked, or was abandoned
	Busy                 atomic.Int64 // workers running a job now
	Wait                 *Histogram   // time from acceptance to start, for each started job
	Fsync                *Histogram   // how long each fsync of the journal took
}

// NewStats returns zeroed Stats.
func NewStats() *Stats {
	return &Stats{
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

// Unfinished returns how many accepted jobs have not reached a final state.
// It reads the finished counters before Accepted, so it never counts a job as
// finished that it has not counted as accepted.
func (s *Stats) Unfinished() int64 {
	finished := s.Done.Load() + s.Canceled.Load() + s.Failed.Load()
	return max(s.Accepted.Load()-finished, 0)
}
