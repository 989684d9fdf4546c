package job

import (
	"errors"
	"sync/atomic"
	"time"
)

// ErrRetryAbandoned is why a job waiting for a retry fails when the server
// stops before its backoff ends; its last attempt's error follows.
var ErrRetryAbandoned = errors.New("abandoned: the server stopped before its retry")

// ErrScheduleAbandoned is why a job waiting for its run_at fails when the
// server, without a journal, stops before that time.
var ErrScheduleAbandoned = errors.New("abandoned: the server stopped, without a journal, before its run_at")

// Enter records that a queue counts j as waiting in count, so that j takes
// itself off the count, once, when it starts or is canceled (the queue adds
// it). It reports false, and changes nothing, if j is no longer queued (it
// was canceled before the queue took it).
func (j *Job) Enter(count *atomic.Int64) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != Queued {
		return false
	}
	j.waiting = count
	return true
}

// WaitsIn reports whether the queue counting in count counts j as waiting.
func (j *Job) WaitsIn(count *atomic.Int64) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.waiting == count
}

// Waiting reports whether a queue counts j as waiting: false for a job
// queued only to wait out a retry's backoff.
func (j *Job) Waiting() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.waiting != nil
}

// stopWaiting takes j off the count of the queue that counts it, if any.
// j.mu must be held, so that a start and a cancel racing for j stop the
// count once between them.
func (j *Job) stopWaiting() {
	if j.waiting != nil {
		j.waiting.Add(-1)
		j.waiting = nil
	}
}

// Start moves a queued job to running on worker, as of now, with cancel to
// interrupt its work. It reports false, and changes nothing, if j is no
// longer queued (it was canceled while it waited).
func (j *Job) Start(worker int, now time.Time, cancel func()) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != Queued {
		return false
	}
	j.stopWaiting()
	j.state, j.worker, j.startedAt, j.cancel = Running, worker, now, cancel
	j.remote = lease{}
	j.attempts++
	j.retryAt = time.Time{}
	return true
}

// Complete records that j's work is complete and its greeting is about to
// be written: from now on a cancel is refused, since the work cannot be
// undone, and only the worker moves j on, with Finish. It reports false, and
// changes nothing, if j had already left the running state (it was
// canceled). The caller writes the greeting after Complete returns, holding
// no lock that the API takes.
func (j *Job) Complete() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != Running {
		return false
	}
	j.completing, j.cancel = true, nil
	return true
}

// Finish moves a running job to the final state s as of now, with err as
// its error ("" for none). It reports false, and changes nothing, if j had
// already left the running state (it was canceled).
func (j *Job) Finish(s State, now time.Time, err string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != Running {
		return false
	}
	j.state, j.finishedAt, j.err, j.cancel, j.completing = s, now, err, nil, false
	j.remote.token, j.remote.until = "", time.Time{}
	j.unsettled = true
	j.wake()
	return true
}

// Cancel cancels j as of now: a queued job will never start, and a running
// one has its work interrupted. It returns the state j was in, and reports
// whether it canceled j; it does not if j had already finished, or if its
// work is complete and its greeting is being written (j is still running).
func (j *Job) Cancel(now time.Time) (prev State, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	prev = j.state
	if prev.Final() || j.completing {
		return prev, false
	}
	if j.cancel != nil {
		j.cancel()
	}
	j.stopWaiting()
	j.state, j.finishedAt, j.cancel, j.retryAt = Canceled, now, nil, time.Time{}
	j.remote.token, j.remote.until = "", time.Time{}
	j.unsettled = true
	j.wake()
	return prev, true
}

// Requeue moves a running job back to queued, to be retried at at, with err
// as its error and neither worker nor start time. It reports false, and
// changes nothing, if j is no longer running (it was canceled).
func (j *Job) Requeue(at time.Time, err string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != Running {
		return false
	}
	j.state, j.err, j.retryAt, j.cancel, j.completing = Queued, err, at, nil, false
	j.worker, j.startedAt = 0, time.Time{} // it holds no worker while it waits
	j.remote = lease{}
	return true
}

// AbandonRetry fails j, queued waiting for a retry that will not run, as of
// now, with ErrRetryAbandoned and its last error; or, if scheduled, waiting
// for a run_at the server will not reach, with ErrScheduleAbandoned. It reports false, and
// changes nothing, if j is no longer waiting for a retry (it was canceled,
// or is counted by a queue: its retry is due).
func (j *Job) AbandonRetry(now time.Time, scheduled bool) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != Queued || j.waiting != nil {
		return false
	}
	j.state, j.finishedAt, j.retryAt = Failed, now, time.Time{}
	if scheduled {
		j.err = ErrScheduleAbandoned.Error()
	} else {
		j.err = ErrRetryAbandoned.Error() + "; last attempt: " + j.err
	}
	j.unsettled = true
	j.wake()
	return true
}

// Retry moves j, failed or canceled, back to queued, to run again (POST
// /work/<id>/retry): same id, its attempts counting on, its retries anew
// (see RetriesUsed); its error, worker and times but enqueued_at are
// cleared, its last output kept. A waiter for its final state waits for
// the new one. It returns the state j was in, and reports false, changing
// nothing, if that was not failed or canceled, or if the effects of its
// finish are still being applied (see Settled).
func (j *Job) Retry() (prev State, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	prev = j.state
	if prev != Failed && prev != Canceled || j.unsettled {
		return prev, false
	}
	j.state, j.err, j.finishedAt, j.retryAt = Queued, "", time.Time{}, time.Time{}
	j.worker, j.startedAt, j.cancel, j.completing = 0, time.Time{}, nil, false
	j.base, j.final, j.remote = j.attempts, nil, lease{}
	return prev, true
}

// Settled records that the effects of j's move to a final state (its
// journal record, the store) are all applied: only then may Retry move it
// on, so that its retry is never journaled, nor the store told, before its
// finish.
func (j *Job) Settled() {
	j.mu.Lock()
	j.unsettled = false
	j.mu.Unlock()
}

// SetOutput keeps output, the end of what j's latest attempt printed, as
// j's output; truncated tells whether its beginning was cut.
func (j *Job) SetOutput(output []byte, truncated bool) {
	s := string(output)
	j.mu.Lock()
	j.output, j.truncated = s, truncated
	j.mu.Unlock()
}
