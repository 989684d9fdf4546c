package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/jobjournal"
	"workqueue/internal/lifecycle"
	"workqueue/internal/lines"
	"workqueue/internal/metrics"
	"workqueue/internal/pool"
	"workqueue/internal/retry"
)

// Worker runs one WorkRequest at a time. When idle it puts its own channel
// into WorkerQueue and waits for the dispatcher to send it a request there.
type Worker struct {
	ID          int                      // the worker's number, 1..n
	work        chan *WorkRequest        // requests for this worker; closed by the dispatcher
	workerQueue chan<- chan *WorkRequest // where the worker announces it is idle
	pool        *pool.Pool               // the pool it belongs to, which may retire it; nil in tests
	env         *workerEnv
	log         *slog.Logger
	debug       bool   // whether log takes debug lines: checked before building one
	line        []byte // the worker's greeting, reused from job to job
}

// workerEnv is what all workers of a server share.
type workerEnv struct {
	do    Work               // the work itself
	ctx   context.Context    // canceled, with a cause, when the server abandons its jobs
	out   *lines.Writer      // standard output
	life  *lifecycle.Effects // makes every change of a job's state, with its effects
	stats *metrics.Stats
	log   *slog.Logger
	// finisher, with -journal, writes the greetings of completed jobs and
	// settles them, so that workers never wait for the disk; else nil.
	finisher *finisher
	retry    *retry.Retrier // where failed attempts wait for their retry
	// durableStart, for work that acts outside the process (a command),
	// makes each attempt wait until its start record is durable before the
	// work begins: a crash then never runs an attempt that the journal does
	// not count, and attempts, and WORKQUEUE_ATTEMPT, never undercount
	// (SPEC.md "-journal"). Sleep has no effect before its greeting, which
	// waits for the record anyway.
	durableStart bool
	// silent, for work that is a command, makes a job's outcome its exit
	// status alone: no greeting goes to standard output, so a closed, full
	// or stalled standard output can never fail, hold or slow a job; each
	// finished job gets a log line instead (see logFinished). There is no
	// greeting to write before its finish is journaled, so it settles at
	// once, without the finisher.
	silent   bool
	attempts *metrics.Attempts // counts attempts
}

// NewWorker returns worker number id, which takes its requests from work
// and announces itself on workerQueue.
func NewWorker(id int, work chan *WorkRequest, workerQueue WorkerQueue, env *workerEnv) *Worker {
	return &Worker{
		ID:          id,
		work:        work,
		workerQueue: workerQueue,
		env:         env,
		log:         env.log.With("worker", id),
		debug:       env.log.Enabled(context.Background(), slog.LevelDebug),
	}
}

// Run serves requests until the dispatcher closes the worker's channel,
// or the pool, shrunk, retires it (see pool.Pool.Idle).
//
// Each job runs under a context that DELETE /work/{id} cancels through the
// request. Rather than make and cancel a context for every job, the worker
// keeps one for as long as nobody cancels it: only the running request can
// reach its cancel function, and only until it finishes.
func (w *Worker) Run() {
	ctx, cancel := context.WithCancel(w.env.ctx)
	defer func() { cancel() }()
	for {
		if w.pool == nil {
			w.workerQueue <- w.work // never blocks: WorkerQueue has a slot per worker
		} else if !w.pool.Idle(w.ID, w.work) {
			return // the pool shrank while this worker was busy
		}
		r, ok := <-w.work // closed: retired by the dispatcher
		if !ok {
			return
		}
		if ctx.Err() != nil { // the last job was canceled
			ctx, cancel = context.WithCancel(w.env.ctx)
		}
		w.run(ctx, cancel, r)
	}
}

// run performs r, unless it was canceled while it waited, and records how it
// ended. A completed request prints its greeting on standard output, unless
// the work is a command (workerEnv.silent): then a job that run finishes is
// logged instead.
func (w *Worker) run(ctx context.Context, cancel context.CancelFunc, r *WorkRequest) {
	if w.env.silent {
		defer w.logFinished(r)
	}
	started := later(r.EnqueuedAt)
	ack, ok := w.env.life.Start(r, w.ID, started, cancel)
	if !ok {
		return
	}
	if w.env.durableStart {
		jobjournal.Durable(ack)
		ack = nil // received: nobody waits on it again
	}
	w.env.stats.Busy.Add(1)
	defer w.env.stats.Busy.Add(-1)
	if w.debug {
		w.log.Debug("job started", "id", r.ID, "waited", started.Sub(r.EnqueuedAt))
	}

	err := w.perform(ctx, r)
	w.env.attempts.Run.Observe(later(started).Sub(started))
	if err != nil && w.env.ctx.Err() != nil {
		err = context.Cause(w.env.ctx) // the server abandoned the job
	}
	if err != nil {
		w.retryOrFail(r, started, err)
		return
	}
	w.env.attempts.Done.Add(1)
	if !r.Complete() {
		return // canceled while running: the canceler recorded it
	}
	if w.env.silent { // no greeting to write first: the start is durable already
		w.settle(r, started, nil, false)
		return
	}
	if f := w.env.finisher; f != nil {
		w.handOver(f, r, started, ack)
		return
	}
	// A write error was logged once by the lines.Writer, not once a job.
	err = w.greet(r)
	w.settle(r, started, err, errors.Is(err, errAbandoned))
}

// settle moves r, whose work and greeting were tried, to done if err is nil
// or to failed with err (see lifecycle.Effects). A job abandoned by a drain
// that gave up is not journaled as failed when there is a journal: the
// journal keeps it running, so it runs again at the next start. settle logs
// a failure at error level if logFailure is set, at debug level otherwise.
func (w *Worker) settle(r *WorkRequest, started time.Time, err error, logFailure bool) {
	now := later(started)
	switch {
	case err == nil:
		if w.env.life.Finish(r, job.Done, now, "") && w.debug {
			w.log.Debug("job done", "id", r.ID, "took", now.Sub(started))
		}
	case errors.Is(err, errAbandoned) && w.env.life.Journaled():
		w.env.life.Abandon(r, now, err.Error())
	case !w.env.life.Finish(r, job.Failed, now, err.Error()):
		// canceled while running: the canceler recorded it
	case logFailure:
		w.log.Error("job failed", "id", r.ID, "err", err)
	case w.debug:
		w.log.Debug("job failed", "id", r.ID, "err", err)
	}
}

// logFinished logs, at info level, how r ended if run finished it (done,
// failed, or canceled while it ran): its id, state, attempts, and how long
// its last attempt took. A job waiting for a retry, or abandoned by a drain
// that gave up with -journal (the journal keeps it running, for the next
// start), is not finished, and not logged.
func (w *Worker) logFinished(r *WorkRequest) {
	st := r.Status()
	if !st.State.Final() || st.StartedAt == 0 {
		return // waiting for its retry, or canceled before it started
	}
	if st.State == job.Failed && st.Err == errAbandoned.Error() && w.env.life.Journaled() {
		return // abandoned (see settle): the journal keeps it running, for the next start
	}
	took := time.Duration(st.FinishedAt - st.StartedAt)
	if st.FinishedAt < st.StartedAt {
		took = 0
	}
	w.log.Info("job finished", "id", r.ID, "state", st.State.String(), "attempts", st.Attempts, "took", took)
}

// retryOrFail is where a failed attempt of r ends, err being its error:
// either r goes back to queued, to be tried again once its backoff ends, or
// it fails with err. It is tried again if the server has not abandoned its
// jobs, r has had at most its retries (its own, else -retries) attempts,
// and err does not say not to retry (command.ExitNoRetry); while the server drains, the
// retry is given up (see retry.Retrier.Drain). A job canceled meanwhile is left as
// its canceler recorded it. started is when the attempt started.
func (w *Worker) retryOrFail(r *WorkRequest, started time.Time, err error) {
	t := w.env.retry
	var nr interface{ NoRetry() bool } // an exit with command.ExitNoRetry: fail at once
	if w.env.ctx.Err() == nil && r.RetriesUsed() <= r.Policy.RetriesOr(t.Max()) && !(errors.As(err, &nr) && nr.NoRetry()) {
		at, ok := t.Wait(r, err)
		if !ok {
			return // canceled while it ran: the canceler recorded it
		}
		w.env.attempts.Count(err)
		if !at.IsZero() {
			w.log.Warn("job attempt failed; will retry", "id", r.ID, "attempt", r.Attempts(), "err", err, "retry_at", at.UTC())
		}
		return
	}
	w.settle(r, started, err, true)
	if r.State() == job.Failed { // not canceled meanwhile: settle failed it
		w.env.attempts.Count(err)
	}
}

// finishBatch is the most completions the finisher writes with one write.
const finishBatch = 1024

// finisher completes the jobs of a server with -journal, so that no worker
// waits for the disk: a worker hands its completed job over and takes its
// next one, and the finisher writes the greetings of every job waiting with
// one write, once their starts are durable, and settles each (see
// lines.Batcher).
type finisher = lines.Batcher[completion]

// completion is a job whose work is complete, on its way to done.
type completion struct {
	w       *Worker // the worker that ran it
	r       *WorkRequest
	started time.Time
}

// handOver gives the finisher r, whose work w completed, with its greeting,
// to be written once ack says r's start is durable. It waits while the
// finisher is full, unless the server abandons its jobs: then r fails as
// abandoned.
func (w *Worker) handOver(f *finisher, r *WorkRequest, started time.Time, ack <-chan error) {
	c := completion{w: w, r: r, started: started}
	if !f.Add(w.env.ctx, c, appendGreeting(nil, r, w.ID), ack) {
		w.settle(r, started, errAbandoned, false)
	}
}

// settleCompletion settles c, whose greeting the finisher wrote with err.
func settleCompletion(c completion, err error) {
	c.w.settle(c.r, c.started, err, errors.Is(err, errAbandoned))
}

// later returns the time now, reading only the monotonic clock: t plus the
// time elapsed since t. Reading the wall clock too, as time.Now does, costs
// as much again, twice per job.
func later(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t.Add(time.Since(t))
}

// perform runs the work for r, turning a panic into an error.
func (w *Worker) perform(ctx context.Context, r *WorkRequest) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return w.env.do(ctx, r)
}

// greet prints r's greeting and returns the write's error. The worker calls
// it after r.complete, holding no lock: a job whose greeting stalls blocks
// only its worker, which stops waiting if the server abandons its jobs.
func (w *Worker) greet(r *WorkRequest) error {
	w.line = appendGreeting(w.line[:0], r, w.ID)
	return w.env.out.Write(w.env.ctx, w.line)
}
