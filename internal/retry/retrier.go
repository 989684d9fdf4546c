package retry

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/lifecycle"
	"workqueue/internal/queue"
)

// Retrier is the server's side of retries: it puts a job whose attempt
// failed back to wait out its backoff in a Queue,
// pushes it onto WorkQueue when the backoff ends, and settles the jobs still
// waiting when the server drains.
//
// It holds the scheduled jobs too, waiting for their run_at in the same
// Queue (Schedule).
//
// The drain's rule: retries and scheduled jobs already due when the drain
// starts are pushed onto WorkQueue, before it closes, and run like any
// queued job; those not yet due, and attempts that fail during the drain,
// are given up (see giveUp). A drain never waits out a backoff or a run_at,
// which may be longer than -shutdown-timeout (a month): a scheduled job
// never starts before its run_at.
type Retrier struct {
	max   int                // -retries: how many times a failed attempt is tried again
	queue *Queue             // the jobs waiting out their backoff
	work  *queue.Queue       // WorkQueue: where due retries go
	life  *lifecycle.Effects // makes each change of a job's state, with its effects
	log   *slog.Logger

	drainOnce sync.Once  // runs the drain's step once, however many drains
	mu        sync.Mutex // guards draining, and orders Wait against the drain
	draining  bool       // the drain has taken the Queue's jobs: Wait gives up
	// smu guards closed, and orders Schedule against the drain. It is apart
	// from mu because Schedule runs under the events hub's lock, which Wait
	// takes under mu: lock order hub, smu, the Queue's.
	smu    sync.Mutex
	closed bool // the drain has begun: Schedule refuses
}

// New returns the retrier of a server that tries a failed attempt again up
// to max times (-retries), pushing due retries onto work, WorkQueue, and
// changing jobs' states through life. With a journal (life.Journaled), the
// jobs whose retry a stopping server will not run stay queued in it, for the
// next start to run, rather than fail.
func New(max int, work *queue.Queue, life *lifecycle.Effects, log *slog.Logger) *Retrier {
	t := &Retrier{max: max, work: work, life: life, log: log}
	t.queue = NewQueue(t.due)
	return t
}

// Wait moves r, running, back to queued with err as its error, journals and
// publishes that, and puts r in the Queue until its backoff ends; it
// returns when that is (its retry_at). While the server drains, r is given
// up instead, and at is zero. It reports false, and changes nothing, if r
// was canceled meanwhile.
func (t *Retrier) Wait(r *job.Job, err error) (at time.Time, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at = time.Now().Add(Backoff(r.Attempts(), 2*rand.Float64()-1))
	if !t.life.Requeue(r, at, err.Error()) {
		return time.Time{}, false
	}
	if t.draining {
		t.giveUp([]*job.Job{r}, nil)
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
func (t *Retrier) due(r *job.Job) {
	if err := t.work.PushForced(r); err != nil {
		t.giveUp([]*job.Job{r}, nil)
	}
}

// ErrScheduledFull is why a job with a future run_at is refused: as many
// jobs wait for their run_at as -max-scheduled allows (a 503 with
// Retry-After).
var ErrScheduledFull = errors.New("too many jobs wait for their run_at (-max-scheduled); retry later")

// Schedule puts r, a new job whose run_at is at, in the Queue, to be
// pushed onto WorkQueue then, holding no worker meanwhile. It returns
// ErrScheduledFull if max jobs wait so already (a max below 0 is no bound:
// a replayed job is never refused) and queue.ErrDraining once the drain has
// begun. It does not count r as accepted: the caller does.
func (t *Retrier) Schedule(r *job.Job, at time.Time, max int) error {
	t.smu.Lock()
	defer t.smu.Unlock()
	if t.closed {
		return queue.ErrDraining
	}
	if !t.queue.AddScheduled(r, at, max) {
		return ErrScheduledFull
	}
	return nil
}

// Scheduled returns how many jobs wait for their run_at now.
func (t *Retrier) Scheduled() int { return t.queue.Scheduled() }

// Forget takes r, just canceled while queued, out of the Queue if it was
// waiting there, so that it is not counted as retrying.
func (t *Retrier) Forget(r *job.Job) { t.queue.Remove(r) }

// Drain is the drain's first step, before WorkQueue closes: from now on no
// job waits for a retry; those due already are pushed onto WorkQueue, to run
// before the server exits, and the others are given up. Later calls do
// nothing but wait for the first to end.
func (t *Retrier) Drain() {
	t.drainOnce.Do(func() {
		t.mu.Lock()
		t.draining = true
		t.mu.Unlock()
		t.smu.Lock()
		t.closed = true
		t.smu.Unlock()
		t.queue.Stop()
		for _, r := range t.queue.DueNow() {
			t.due(r)
		}
		retries, scheduled := t.queue.Pending()
		for _, r := range append(retries, scheduled...) {
			t.queue.Remove(r)
		}
		t.giveUp(retries, scheduled)
	})
}

// giveUp settles jobs whose retry, or whose run_at, the server will not
// reach, because it is stopping. With the journal they stay queued, their
// retry or run_at journaled, for the next start to run; without, each one
// still queued fails with job.ErrRetryAbandoned and its last error, or
// job.ErrScheduleAbandoned. Either way the log names them.
func (t *Retrier) giveUp(retries, scheduled []*job.Job) {
	if t.life.Journaled() {
		logJobs(t.log, slog.LevelInfo, "retries left in the journal for the next start", retries)
		logJobs(t.log, slog.LevelInfo, "scheduled jobs left in the journal for the next start", scheduled)
		return
	}
	logJobs(t.log, slog.LevelError, "retries given up: the server is stopping", t.abandon(retries, false))
	logJobs(t.log, slog.LevelError, "scheduled jobs given up: the server is stopping without a journal", t.abandon(scheduled, true))
}

// abandon fails each job of rs still waiting for a retry (for its run_at,
// if scheduled), and returns those it failed.
func (t *Retrier) abandon(rs []*job.Job, scheduled bool) []*job.Job {
	var failed []*job.Job
	now := time.Now()
	for _, r := range rs {
		if t.life.AbandonRetry(r, now, scheduled) {
			failed = append(failed, r)
		}
	}
	return failed
}

// idsLogged is how many ids of the jobs given up the log names.
const idsLogged = 20

// logJobs logs msg at level with how many jobs rs holds and the ids of the
// first idsLogged, unless rs is empty.
func logJobs(log *slog.Logger, level slog.Level, msg string, rs []*job.Job) {
	if len(rs) == 0 {
		return
	}
	ids := make([]string, 0, min(len(rs), idsLogged))
	for _, r := range rs[:cap(ids)] {
		ids = append(ids, r.ID)
	}
	log.Log(context.Background(), level, msg, "jobs", len(rs), "ids", strings.Join(ids, ","), "more", len(rs)-len(ids))
}

// Max returns -retries: how many times a failed attempt is tried again.
func (t *Retrier) Max() int { return t.max }

// Len returns how many jobs wait out a backoff now.
func (t *Retrier) Len() int { return t.queue.Len() }
