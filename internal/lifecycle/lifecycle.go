// Package lifecycle makes each change of a job's state in one call: the job
// package's transition, made under the job's own lock, and then its effects,
// applied here and nowhere else, always in this order: the record journaled,
// the store told, the counters moved, the event published. A transition that
// finds the job moved on (a start that finds it canceled) reports false and
// has no effect at all. A new observer of jobs' lives is one more line here.
//
// Lock order: no lock is held while the effects are applied; each effect
// takes its own (the journal's writer, the store's, the events hub's), and
// the job's lock is released before the first.
package lifecycle

import (
	"context"
	"time"

	"workqueue/internal/events"
	"workqueue/internal/job"
	"workqueue/internal/jobjournal"
	"workqueue/internal/metrics"
	"workqueue/internal/store"
)

// Effects is where every change of a job's state takes effect. Its fields
// are set before the server starts and never change after.
type Effects struct {
	jobs    *store.Store
	stats   *metrics.Stats
	events  *events.Hub
	journal *jobjournal.Log // nil without -journal

	// OnCancel, if not nil, is told of each job canceled while queued, after
	// the other effects: the retrier forgets it if it was waiting out a
	// backoff.
	OnCancel func(*job.Job)
}

// New returns the Effects of a server whose jobs are kept in jobs, counted
// in stats and published on hub.
func New(jobs *store.Store, stats *metrics.Stats, hub *events.Hub) *Effects {
	return &Effects{jobs: jobs, stats: stats, events: hub}
}

// UseJournal makes every change from now on journaled in jj. Call it before
// the server starts.
func (e *Effects) UseJournal(jj *jobjournal.Log) { e.journal = jj }

// Journaled reports whether changes are journaled (-journal).
func (e *Effects) Journaled() bool { return e.journal != nil }

// Start moves r, queued, to running on worker as of now, with cancel to
// interrupt its work: its start record goes to the journal without waiting,
// the time it waited is counted, and its event is published. ack answers
// once the record is durable (nil without a journal): work that acts
// outside the process waits for it. ok is false if r was canceled while it
// waited: nothing happened.
func (e *Effects) Start(r *job.Job, worker int, now time.Time, cancel context.CancelFunc) (ack <-chan error, ok bool) {
	if !r.Start(worker, now, cancel) {
		return nil, false
	}
	ack = e.journal.Started(r)
	e.stats.Wait.Observe(now.Sub(r.EnqueuedAt))
	e.events.PublishJob(r)
	return ack, true
}

// Finish moves r, running, to s (done, or failed with err) as of now: its
// finish goes to the journal without waiting (at worst a crash runs it
// again), the store keeps it as finished, it is counted, and its event is
// published. It reports false if r had been canceled: nothing happened.
func (e *Effects) Finish(r *job.Job, s job.State, now time.Time, err string) bool {
	if !r.Finish(s, now, err) {
		return false
	}
	e.journal.Finished(r)
	e.finished(r, s)
	return true
}

// Abandon fails r, running, with err as of now, because the server gave up
// its drain: with -journal nothing is journaled, so the journal still holds
// r as running and the next start runs it again; the store, the counters
// and the events see it failed. It reports false if r had been canceled.
func (e *Effects) Abandon(r *job.Job, now time.Time, err string) bool {
	if !r.Finish(job.Failed, now, err) {
		return false
	}
	e.finished(r, job.Failed)
	return true
}

// Cancel cancels r as of now (see job.Job.Cancel): its finish is journaled
// and waited for, so that a job answered canceled stays canceled through a
// crash; the store keeps it as finished; it is counted; its event is
// published; and OnCancel is told if it was queued. prev is the state r was
// in; ok is false if r could not be canceled, and then nothing happened.
//
// A cancel the journal cannot record is refused: once the journal has
// failed, Cancel of a job not yet finished changes nothing and returns the
// journal's error (wrapping jobjournal.ErrJournal), since the next start
// would run the job all the same; a finished job is refused as always. If the journal fails during the cancel itself, r is canceled in this
// process (its work may already be interrupted) and the error says so.
func (e *Effects) Cancel(r *job.Job, now time.Time) (prev job.State, ok bool, err error) {
	if err := e.journal.Err(); err != nil {
		if prev := r.State(); prev.Final() {
			return prev, false, nil // finished and journaled so: nothing to refuse
		}
		return r.State(), false, err
	}
	prev, ok = r.Cancel(now)
	if !ok {
		return prev, false, nil
	}
	err = e.journal.Finished(r)
	e.finished(r, job.Canceled)
	if prev == job.Queued && e.OnCancel != nil {
		e.OnCancel(r)
	}
	return prev, true, err
}

// Requeue moves r, running, back to queued to wait out its backoff until at,
// with err as its last attempt's error: its retry is journaled, before r can
// start again, and its event is published. It reports false if r had been
// canceled.
func (e *Effects) Requeue(r *job.Job, at time.Time, err string) bool {
	if !r.Requeue(at, err) {
		return false
	}
	e.journal.Retrying(r)
	e.events.PublishJob(r)
	return true
}

// Retry makes r, failed or canceled, queued again to run once more (see
// job.Job.Retry): its retry is journaled and waited for, so that the 200
// holds through a crash; the store keeps it as unfinished; its event is
// published. The caller then pushes it onto WorkQueue. prev is the state r
// was in; ok is false if r was in another, and then nothing happened. As
// with Cancel, once the journal has failed nothing is changed and its error
// returned; if it fails during the retry itself, r is queued in this
// process all the same, and the error says so.
func (e *Effects) Retry(r *job.Job) (prev job.State, ok bool, err error) {
	if err := e.journal.Err(); err != nil {
		return r.State(), false, err
	}
	prev, ok = r.Retry()
	if !ok {
		return prev, false, nil
	}
	err = e.journal.Retried(r)
	e.jobs.Retried(r)
	e.stats.Retried.Add(1) // before the caller queues it: Unfinished counts it until it ends again
	e.events.PublishJob(r)
	return prev, true, err
}

// AbandonRetry fails r, waiting for a retry the stopping server will not
// run, or, if scheduled, for its run_at (see job.Job.AbandonRetry): the store keeps it as finished, it is
// counted and its event published. Nothing is journaled: with -journal a
// job is never given up this way, it stays queued for the next start. It
// reports false if r is no longer waiting.
func (e *Effects) AbandonRetry(r *job.Job, now time.Time, scheduled bool) bool {
	if !r.AbandonRetry(now, scheduled) {
		return false
	}
	e.finished(r, job.Failed)
	return true
}

// finished applies the effects after the journal of r reaching the final
// state s: the store, the counters, the event.
func (e *Effects) finished(r *job.Job, s job.State) {
	e.jobs.Finished(r)
	switch s {
	case job.Done:
		e.stats.Done.Add(1)
	case job.Canceled:
		e.stats.Canceled.Add(1)
	default:
		e.stats.Failed.Add(1)
	}
	e.events.PublishJob(r)
	r.Settled()
}
