package metrics

import (
	"bytes"
	"errors"
	"sync/atomic"
	"time"
)

// Attempts counts the attempts of jobs, each run of their work (SPEC
// "(v2) Real work": workqueue_job_attempts_total, workqueue_job_run_seconds).
// An attempt is counted once it has ended, in exactly one of Done, Failed
// and Timeout, unless its job was canceled while it ran. Every field is safe
// for concurrent use.
type Attempts struct {
	Done    atomic.Int64 // attempts whose work completed
	Failed  atomic.Int64 // attempts whose work failed other than by -job-timeout, abandoned ones included
	Timeout atomic.Int64 // attempts stopped by -job-timeout
	Run     *Histogram   // how long each attempt's work ran, canceled ones included
}

// NewAttempts returns zeroed Attempts, with buckets of Run from 1 ms, for a
// greeting's wait, to 10 min, for a command's work.
func NewAttempts() *Attempts {
	return &Attempts{Run: newHistogram(
		time.Millisecond, 5*time.Millisecond, 10*time.Millisecond,
		25*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond,
		250*time.Millisecond, 500*time.Millisecond, time.Second,
		2500*time.Millisecond, 5*time.Second, 10*time.Second,
		30*time.Second, time.Minute, 5*time.Minute, 10*time.Minute,
	)}
}

// Count counts an attempt that ended with err: Done if nil; Timeout if the
// first error in err's chain that has a Timeout() bool method (as
// *command.TimeoutError has, and net.Error) reports true; else Failed.
func (a *Attempts) Count(err error) {
	var te interface{ Timeout() bool }
	switch {
	case err == nil:
		a.Done.Add(1)
	case errors.As(err, &te) && te.Timeout():
		a.Timeout.Add(1)
	default:
		a.Failed.Add(1)
	}
}

// WriteText writes the attempt metrics, and retrying, the number of jobs
// waiting out a backoff, in the Prometheus text format.
func (a *Attempts) WriteText(b *bytes.Buffer, retrying int) {
	Family(b, "workqueue_job_attempts_total", "counter",
		"Attempts of jobs that ended, by outcome: done, failed (other than by timeout; abandoned ones included), timeout (-job-timeout).")
	Sample(b, "workqueue_job_attempts_total", `outcome="done"`, a.Done.Load())
	Sample(b, "workqueue_job_attempts_total", `outcome="failed"`, a.Failed.Load())
	Sample(b, "workqueue_job_attempts_total", `outcome="timeout"`, a.Timeout.Load())
	Family(b, "workqueue_jobs_retrying", "gauge", "Jobs queued waiting out the backoff before their next attempt.")
	Sample(b, "workqueue_jobs_retrying", "", int64(retrying))
	a.Run.WriteText(b, "workqueue_job_run_seconds", "How long each attempt's work ran: the delay, then the command if any.")
}
