package lifecycle

import (
	"context"
	"time"

	"workqueue/internal/job"
)

// Claim moves r, queued, to running on the remote worker named by, as of
// now, under the lease token for term, with cancel told if a DELETE
// cancels it: as Start does, its start record goes to the journal (ack
// answers once durable; nil without a journal), the time it waited is
// counted and its event published. ok is false if r was canceled while it
// waited: nothing happened.
func (e *Effects) Claim(r *job.Job, by, token string, now time.Time, term time.Duration, cancel context.CancelFunc) (ack <-chan error, ok bool) {
	if !r.Claim(by, token, now, term, cancel) {
		return nil, false
	}
	ack = e.journal.Started(r)
	e.stats.Wait.Observe(now.Sub(r.EnqueuedAt))
	e.events.PublishJob(r)
	return ack, true
}

// FinishDurable is Finish for an attempt a remote worker reports: the
// finish is journaled and waited for, so that the answer to the worker
// holds through a crash. The other effects follow as for Finish. It
// reports false if r had been canceled; err is the journal's, if it failed.
func (e *Effects) FinishDurable(r *job.Job, s job.State, now time.Time, msg string) (ok bool, err error) {
	if !r.Finish(s, now, msg) {
		return false, nil
	}
	err = e.journal.FinishedDurable(r)
	e.finished(r, s)
	return true, err
}
