package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"workqueue/internal/api"
	"workqueue/internal/config"
	"workqueue/internal/events"
	"workqueue/internal/idempotency"
	"workqueue/internal/jobjournal"
	"workqueue/internal/lines"
	"workqueue/internal/metrics"
	"workqueue/internal/pool"
	"workqueue/internal/queue"
	"workqueue/internal/retry"
	"workqueue/internal/store"
)

// finishedKept is how many finished jobs the Store keeps for GET /work/{id}.
const finishedKept = 10_000

// errAbandoned is why the work of jobs still running is canceled when a drain
// gives up.
var errAbandoned = errors.New("abandoned: the server stopped before the job finished")

// server is one workqueue: the Collector, WorkQueue, the dispatcher and its
// workers, and the job store, wired together. It knows nothing of listening
// or signals, so tests can build as many as they like.
type server struct {
	queue      *WorkQueue
	jobs       *store.Store
	keys       *idempotency.Keys // the idempotency keys of the jobs the store keeps
	stats      *metrics.Stats
	pool       *pool.Pool // the workers, resized by PUT /workers
	dispatcher *Dispatcher
	out        *lines.Writer // the workers' standard output
	events     *events.Hub   // the server-sent events at GET /events
	api        *api.Server   // what the HTTP API answers from
	handler    http.Handler
	log        *slog.Logger
	collector  *Collector
	env        *workerEnv        // what the workers share
	journal    *jobjournal.Log   // nil without -journal
	retry      *retry.Retrier    // jobs waiting out a backoff before their next attempt
	attempts   *metrics.Attempts // attempts by outcome, and how long they ran

	done chan struct{} // closed when the dispatcher and workers have exited
	// stopping is closed, once, by drain as it returns; it answers GET ?wait.
	stopping chan struct{}
	stopOnce sync.Once
	// giveUp cancels the work of running jobs and aborts the dispatcher.
	giveUp func()
}

// newServer builds a server from cfg whose workers do work and print their
// greetings to stdout. Call start to set its dispatcher and workers going.
func newServer(cfg config.Config, work Work, stdout io.Writer, log *slog.Logger) *server {
	ctx, abandon := context.WithCancelCause(context.Background())
	stats := metrics.NewStats()
	keys := idempotency.New()
	s := &server{
		queue: queue.New(cfg.Queue, &stats.Accepted),
		keys:  keys,
		jobs:  store.New(cmp.Or(cfg.Kept, finishedKept), keys.Forget),
		stats: stats,
		log:   log,
		done:  make(chan struct{}),
	}
	s.stopping = make(chan struct{})
	s.out = lines.NewWriter(stdout, log)
	s.api = &api.Server{Queue: s.queue, Jobs: s.jobs, Stats: stats, Log: log, LogDropped: new(atomic.Int64), Stopping: s.stopping}
	s.events = events.New(s.api.StatsEvent)
	s.retry = retry.New(cfg.Retries, s.queue, s.jobs, stats, s.events, log)
	s.attempts = metrics.NewAttempts()
	s.api.Events, s.api.Retry, s.api.Attempts = s.events, s.retry, s.attempts
	env := &workerEnv{do: work, ctx: ctx, out: s.out, jobs: s.jobs, stats: s.stats, events: s.events, log: log,
		retry: s.retry, attempts: s.attempts, durableStart: cfg.Command != nil}
	workerQueue := make(WorkerQueue, cfg.MaxWorkers)
	s.pool = pool.New(cfg.MaxWorkers, workerQueue, func(id int, work chan *WorkRequest) {
		w := NewWorker(id, work, workerQueue, env)
		w.pool = s.pool
		w.Run()
	})
	s.api.Pool = s.pool
	s.dispatcher = NewDispatcher(s.queue, workerQueue, s.pool, cfg.Workers)
	s.giveUp = func() {
		s.dispatcher.Abort()
		abandon(errAbandoned)
	}
	s.env = env
	s.collector = &Collector{queue: s.queue, jobs: s.jobs, keys: keys, stats: s.stats, events: s.events, maxDelay: cfg.MaxDelay,
		log: log, debug: log.Enabled(context.Background(), slog.LevelDebug)}
	s.handler = s.api.Handler(s.collector)
	return s
}

// start sets the dispatcher and its workers going.
func (s *server) start() {
	f := s.env.finisher
	if f != nil {
		go f.Run(s.env.ctx, s.out, settleCompletion)
	}
	if err := s.dispatcher.StartWorkers(); err != nil {
		s.log.Error("starting the workers", "err", err) // -n is checked against -max-workers: never
	}
	go func() {
		defer close(s.done)
		s.dispatcher.Run()
		if f != nil { // the workers have exited: nothing more to finish
			f.Close()
		}
	}()
}

// Bounds on the waits of a drain that gave up: the process is exiting, and
// must not wait on a stuck output stream or a job that ignores cancellation.
const (
	abandonWait = 500 * time.Millisecond // for the workers to exit
	outputWait  = 250 * time.Millisecond // for standard output to take what is pending
	idsLogged   = 20                     // abandoned jobs named in the log
)

// drain stops intake and waits until every accepted job has run, the
// dispatcher and workers have exited, and their output is written. If ctx
// ends first it gives up: it cancels the running jobs (a worker waiting for
// another's write of its greeting stops waiting), leaves the queued ones
// unrun, waits a bounded time for the workers to exit (one may be stuck in
// write(2) to a standard output nobody reads) and for the output, and
// returns an *abandonedError. Either way it then ends every /events stream.
// Concurrent drains are safe.
func (s *server) drain(ctx context.Context) error {
	s.retry.Drain() // due retries queued, the others given up
	s.queue.Close()
	// End every /events stream (one never goes idle, so no graceful shutdown
	// would end), and answer every ?wait.
	defer s.events.Close()
	defer s.stopOnce.Do(func() { close(s.stopping) })
	select {
	case <-s.done:
		s.out.Close(outputWait) // nothing is pending: every worker wrote its line
		return nil
	case <-ctx.Done():
	}
	n := s.stats.Unfinished() // exact: Close waited for every Push to be counted
	if n == 0 {
		<-s.done // the dispatcher is only taking its idle workers back
		s.out.Close(outputWait)
		return nil
	}
	ids, more := s.jobs.Unfinished(idsLogged)
	s.giveUp()
	t := time.NewTimer(abandonWait)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
		s.log.Error("workers still running after the drain gave up; exiting without them", "waited", abandonWait)
	}
	if err := s.out.Close(outputWait); err != nil {
		s.log.Error("exiting with standard output blocked", "err", err)
	}
	return &abandonedError{jobs: n, ids: ids, more: more, why: context.Cause(ctx)}
}

// abandonedError reports a drain that gave up with accepted jobs unfinished.
type abandonedError struct {
	jobs int64    // accepted jobs that never finished
	ids  []string // the IDs of the first of them, in order
	more int      // how many unfinished jobs ids leaves out
	why  error    // why the drain gave up
}

func (e *abandonedError) Error() string {
	return fmt.Sprintf("drain gave up (%v): %d accepted jobs abandoned", e.why, e.jobs)
}
