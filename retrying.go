package main

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"workqueue/internal/events"
	"workqueue/internal/job"
	"workqueue/internal/jobjournal"
	"workqueue/internal/metrics"
	"workqueue/internal/store"
)

// retrier is the server's side of retries (SPEC "(v2) Real work"): it puts
// a job whose attempt failed back to wait out its backoff in a RetryQueue,
// pushes it onto WorkQueue when the backoff ends, and settles the jobs still
// waiting when the server drains.
//
// The drain's rule: retries already due when the drain starts are pushed
// onto WorkQueue, before it closes, and run like any queued job; retries
// not yet due, and attempts that fail during the drain, are given up (see
// giveUp). A drain never waits out a backoff, which may be longer than
// -shutdown-timeout.
type retrier struct {
	max    int         // -retries: how many times a failed attempt is tried again
	queue  *RetryQueue // the jobs waiting out their backoff
	work   *WorkQueue  // where due retries go
	jobs   *store.Store
	stats  *metrics.Stats
	events *events.Hub
	log    *slog.Logger
	// journal, with -journal, records each retry; and the jobs whose retry a
	// stopping server will not run stay queued in it, for the next start to
	// run, rather than fail. Set by useJournal before the server starts.
	journal *jobjournal.Log

	drainOnce sync.Once  // runs the drain's step once, however many drains
	mu        sync.Mutex // guards draining, and orders wait against the drain
	draining  bool       // the drain has taken the RetryQueue's jobs: wait gives up
}

// newRetrier returns the retrier of a server that tries a failed attempt
// again up to max times, pushing due retries onto work.
func newRetrier(max int, work *WorkQueue, jobs *store.Store, stats *metrics.Stats, events *events.Hub, log *slog.Logger) *retrier {
	t := &retrier{max: max, work: work, jobs: jobs, stats: stats, events: events, log: log}
	t.queue = NewRetryQueue(t.due)
	return t
}

// retryOrFail is where a failed attempt of r ends, err being its error:
// either r goes back to queued, to be tried again once its backoff ends, or
// it fails with err. It is tried again if the server has not abandoned its
// jobs and r has had at most -retries attempts; while the server drains, the
// retry is given up (see retrier.giveUp). A job canceled meanwhile is left as
// its canceler recorded it. started is when the attempt started.
func (w *Worker) retryOrFail(r *WorkRequest, started time.Time, err error) {
	t := w.env.retry
	if w.env.ctx.Err() == nil && r.Attempts() <= t.max {
		at, ok := t.wait(r, err)
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

// wait moves r, running, back to queued with err as its error, journals and
// publishes that, and puts r in the RetryQueue until its backoff ends; it
// returns when that is (its retry_at). While the server drains, r is given
// up instead, and at is zero. It reports false, and changes nothing, if r
// was canceled meanwhile.
func (t *retrier) wait(r *WorkRequest, err error) (at time.Time, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at = time.Now().Add(backoff(r.Attempts(), 2*rand.Float64()-1))
	if !r.Requeue(at, err.Error()) {
		return time.Time{}, false
	}
	t.journal.Retrying(r) // before r can start again, so replay sees them in order
	t.events.PublishJob(r)
	if t.draining {
		t.giveUp([]*WorkRequest{r})
		return time.Time{}, true
	}
	t.queue.Add(r, at)
	if r.State() != job.Queued {
		t.queue.Remove(r) // canceled before Add: its canceler found nothing to forget
	}
	return at, true
}

// due pushes r, whose backoff has ended, onto WorkQueue; the RetryQueue
// calls it. PushForced never refuses for want of room, and passes over a job
// canceled meanwhile. It cannot find the queue ended, since the drain stops
// the RetryQueue before it closes WorkQueue; if it did, r fails.
func (t *retrier) due(r *WorkRequest) {
	if err := t.work.PushForced(r); err != nil {
		t.giveUp([]*WorkRequest{r})
	}
}

// forget takes r, just canceled while queued, out of the RetryQueue if it was
// waiting there, so that it is not counted as retrying.
func (t *retrier) forget(r *WorkRequest) { t.queue.Remove(r) }

// drain is the drain's first step, before WorkQueue closes: from now on no
// job waits for a retry; those due already are pushed onto WorkQueue, to run
// before the server exits, and the others are given up. Later calls do
// nothing but wait for the first to end.
func (t *retrier) drain() {
	t.drainOnce.Do(func() {
		t.mu.Lock()
		t.draining = true
		t.mu.Unlock()
		t.queue.Stop()
		for _, r := range t.queue.DueNow() {
			t.due(r)
		}
		pending := t.queue.Pending()
		for _, r := range pending {
			t.queue.Remove(r)
		}
		t.giveUp(pending)
	})
}

// giveUp settles jobs whose retry the server will not run, because it is
// stopping. With the journal they stay queued, their retry journaled, for
// the next start to run; without, each one still queued fails with
// job.ErrRetryAbandoned and its last error. Either way the log names them.
func (t *retrier) giveUp(rs []*WorkRequest) {
	if t.journal != nil {
		logJobs(t.log, slog.LevelInfo, "retries left in the journal for the next start", rs)
		return
	}
	var failed []*WorkRequest
	now := time.Now()
	for _, r := range rs {
		if r.AbandonRetry(now) {
			t.stats.Failed.Add(1)
			t.jobs.Finished(r)
			t.events.PublishJob(r)
			failed = append(failed, r)
		}
	}
	logJobs(t.log, slog.LevelError, "retries given up: the server is stopping", failed)
}

// logJobs logs msg at level with how many jobs rs holds and the ids of the
// first idsLogged, unless rs is empty.
func logJobs(log *slog.Logger, level slog.Level, msg string, rs []*WorkRequest) {
	if len(rs) == 0 {
		return
	}
	ids := make([]string, 0, min(len(rs), idsLogged))
	for _, r := range rs[:cap(ids)] {
		ids = append(ids, r.ID)
	}
	log.Log(context.Background(), level, msg, "jobs", len(rs), "ids", strings.Join(ids, ","), "more", len(rs)-len(ids))
}
