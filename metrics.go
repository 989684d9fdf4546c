package main

import "sync/atomic"

// Stats counts what happened to the server's jobs. Every field is safe for
// concurrent use; each job is counted once in Accepted and, when it ends, once
// in exactly one of the Finished counters.
type Stats struct {
	Accepted         atomic.Int64 // requests queued (answered 201), counted by WorkQueue
	RejectedFull     atomic.Int64 // requests answered 503 because WorkQueue was full
	RejectedDraining atomic.Int64 // requests answered 503 because the server was draining
	RejectedInvalid  atomic.Int64 // requests answered 4xx for bad input
	Done             atomic.Int64 // jobs that completed and printed their greeting
	Canceled         atomic.Int64 // jobs canceled, queued or running
	Failed           atomic.Int64 // jobs whose work failed or panicked
	Busy             atomic.Int64 // workers running a job now
}

// Unfinished returns how many accepted jobs have not reached a final state.
// It reads the finished counters before Accepted, so it never counts a job as
// finished that it has not counted as accepted.
func (s *Stats) Unfinished() int64 {
	finished := s.Done.Load() + s.Canceled.Load() + s.Failed.Load()
	return max(s.Accepted.Load()-finished, 0)
}
