// Package retry is where a job whose attempt failed waits out its backoff
// before the next, and a job with a run_at waits for it: a heap of waiting
// jobs under one timer (Queue), and the server's side of retries and
// schedules (Retrier), which puts a failed or scheduled job there, pushes
// it onto WorkQueue when its time comes, and settles those still waiting
// when the server drains.
//
// Lock order: the Retrier's lock is taken before a Job's and before the
// events hub's; its schedule lock (smu) after the hub's (the Collector
// schedules under it) and before the Queue's; the Queue's lock is never
// held while it hands a job over.
package retry

import "time"

// The backoff between attempts of a job.
const (
	backoffFirst  = time.Second // the wait after the first failed attempt
	backoffMax    = time.Minute // the longest wait, before jitter
	backoffJitter = 0.2         // a wait is its base times 1 ± backoffJitter
)

// Backoff returns how long a job waits after its failed attempt number
// attempt (1, 2, ...) before its next: 1 s, 2 s, 4 s, ... doubling up to
// 1 min, then times 1 + 0.2×jitter, jitter being in [-1, 1] (clamped).
// Jitter spreads the retries of jobs that failed together. As in gRPC's
// connection backoff (doc/connection-backoff.md), the cap applies before the
// jitter, so that capped waits stay spread: a wait is at most 72 s.
func Backoff(attempt int, jitter float64) time.Duration {
	d := backoffFirst
	for i := 1; i < attempt && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	jitter = min(max(jitter, -1), 1)
	return time.Duration(float64(d) * (1 + backoffJitter*jitter))
}
