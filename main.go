// Workqueue is a small HTTP job-queue server: the classic Go worker-queue
// design, made correct.
//
// A Collector handles POST /work and pushes each WorkRequest onto a buffered
// WorkQueue, answering 503 at once when it is full. One dispatcher goroutine
// takes each request off WorkQueue and hands it to the next idle Worker,
// whose own channel it takes from WorkerQueue, a buffered channel of the
// workers' channels. A worker waits out the request's delay, then either
// prints "worker<K>: Hello, <NAME>!" on standard output (the built-in work)
// or runs the command given after -- (the job is done only if it exits 0,
// and is retried up to -retries times if not; nothing goes to standard
// output, and each finished job is logged), and puts its channel back.
// With -journal every job's life is kept in a write-ahead journal, so that
// accepted jobs survive a crash and run after the restart.
//
// On SIGINT, SIGTERM or SIGHUP it stops accepting work, runs every job it
// accepted, and exits 0; past -shutdown-timeout, or on a second signal, it
// exits 1. Neither a standard output nor a standard error that stops taking
// lines, nor one whose reader went away, holds up the API or the drain.
//
// Usage (workqueue -h lists every flag):
//
//	workqueue [-n 4] [-max-workers 1024] [-http 127.0.0.1:8000] [-queue 100]
//	          [-max-delay 10s] [-shutdown-timeout 30s] [-log-level info]
//	          [-journal DIR [-fsync always]]
//	          [-retries 0] [-job-timeout 0] [-max-retries 25]
//	          [-max-payload 64KiB] [-max-ahead 720h] [-max-scheduled 100000]
//	          [-allow-host NAME] [-node NAME]
//	          [-token-file FILE] [-insecure] [-tls-cert FILE -tls-key FILE]
//	          [-- COMMAND [ARG...]]
package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"workqueue/internal/api"
	"workqueue/internal/auth"
	"workqueue/internal/command"
	"workqueue/internal/config"
	"workqueue/internal/events"
	"workqueue/internal/hostguard"
	"workqueue/internal/idempotency"
	"workqueue/internal/job"
	"workqueue/internal/jobjournal"
	"workqueue/internal/journal"
	"workqueue/internal/lifecycle"
	"workqueue/internal/lines"
	"workqueue/internal/metrics"
	"workqueue/internal/pool"
	"workqueue/internal/queue"
	"workqueue/internal/remote"
	"workqueue/internal/retry"
	"workqueue/internal/runner"
	"workqueue/internal/signals"
	"workqueue/internal/store"
	"workqueue/internal/submit"
)

func main() {
	// A write to a closed pipe on standard output or error (workqueue | head
	// -1) kills a Go program by SIGPIPE unless the program asks for the
	// signal; asked for, the write fails with EPIPE, and the job whose
	// greeting it was fails. Notify, not Ignore: an ignored disposition would
	// be inherited by the commands that a later version runs.
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	var usage *config.UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return
	case errors.As(err, &usage):
		exit(2, fmt.Sprintf("workqueue: %v (see workqueue -h)\n", err))
	default:
		exit(1, fmt.Sprintf("workqueue: %v\n", err))
	}
}

// exitWait is how long main waits for its last message to reach standard
// error before exiting anyway: nobody may be reading it.
const exitWait = 250 * time.Millisecond

// exit writes msg to standard error, waiting at most exitWait, and exits
// with code.
func exit(code int, msg string) {
	written := make(chan struct{})
	go func() {
		os.Stderr.WriteString(msg)
		close(written)
	}()
	select {
	case <-written:
	case <-time.After(exitWait):
	}
	os.Exit(code)
}

// run is the whole program: it parses args, serves until ctx is canceled or
// the process gets SIGINT, SIGTERM or SIGHUP, then drains. It returns nil
// after a complete drain, a *config.UsageError for bad flags or a command
// not found, flag.ErrHelp for -h, and any other error when the server could
// not start, was stopped while starting, or gave up on its drain.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runWith(ctx, args, stdout, stderr, nil)
}

// startHook is start-up work run before the server listens; it must return
// soon after ctx ends, with an error. Tests pass a slow one; the journal's
// replay will be one.
type startHook func(ctx context.Context) error

// logWait is how long run waits at exit for its log to reach standard error.
const logWait = 500 * time.Millisecond

// logLines is how many log lines may wait for standard error before new
// ones are dropped: a burst of a few seconds of a busy server's log, a few
// hundred KiB at most.
const logLines = 4096

// runWith is run with hook, if not nil, run during start-up.
func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, hook startHook) error {
	// Catch signals first: whoever started us may signal at once, and an
	// uncaught SIGTERM would kill without a drain.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	stop, force, unwatch := signals.Watch(ctx, sigs)
	defer unwatch()
	cfg, err := config.Parse(args, stderr)
	if err != nil {
		return err
	}
	// A goroutine in a blocking system call keeps its P (its right to run
	// Go code) until the scheduler takes it back, and on return it waits for
	// one. With one P (GOMAXPROCS 1: one core, or taskset -c 0) the journal's
	// writer, in fsync(2) for about a millisecond each group commit, then
	// holds up the handlers that would fill the next commit, and waits behind
	// them to answer the one it made: durable ingest measured 16-24k jobs/s
	// with one P and 28-30k with two, on the same pinned core (11-19 jobs
	// per fsync against 25-28; docs/performance.md). Without a journal a
	// second P on one core costs about 7 % of ingest (75k against 70k jobs/s),
	// so only a journal gets it. It is the process's setting: the first
	// server with a journal raises it, and nothing lowers it.
	if cfg.JournalDir != "" && runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	c, err := newCommand(cfg)
	if err != nil {
		return err
	}
	logDropped := new(atomic.Int64)
	logw := lines.NewLog(stderr, logLines, logDropped)
	defer logw.Close(logWait)
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if cfg.Remote != "" {
		return runRemote(cfg, c, stop, force, log)
	}
	s := newServer(cfg, workFor(c), stdout, log)
	s.api.LogDropped = logDropped
	if err := s.recover(stop, cfg); err != nil {
		if stop.Err() != nil {
			return fmt.Errorf("stopped while starting: %w", context.Cause(stop))
		}
		return err
	}
	defer s.journal.Close()
	// Supervise reaps what commands orphan, starts the supervisor that kills
	// every command's group if the server dies, and at exit SIGKILLs every
	// group they left. Without a supervisor the server runs on, and says so.
	endCommands := c.Supervise(func(err error) {
		log.Warn("commands unsupervised: a kill -9 of the server may leave their children running", "err", err)
	})
	defer endCommands()
	s.start()
	if hook != nil {
		if err := hook(stop); err != nil {
			s.drain(force) // nothing was accepted: this only stops the dispatcher and workers
			if stop.Err() != nil {
				return fmt.Errorf("stopped while starting: %w", context.Cause(stop))
			}
			return fmt.Errorf("starting: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		s.drain(force)
		return fmt.Errorf("cannot listen on -http %s: %w", cfg.Addr, err)
	}
	return serve(s, ln, cfg, stop, force, log)
}

// runRemote runs cfg.Workers remote workers of the server at cfg.Remote,
// each running c for its jobs, instead of a server (see runner.Runner).
func runRemote(cfg config.Config, c *command.Command, stop, force context.Context, log *slog.Logger) error {
	rn := &runner.Runner{URL: cfg.Remote, Workers: cfg.Workers, Command: c, ShutdownTimeout: cfg.ShutdownTimeout, Lease: cfg.Lease, Log: log}
	if cfg.TokenFile != "" {
		tok, err := runner.ReadToken(cfg.TokenFile)
		if err != nil {
			return &config.UsageError{Err: err}
		}
		rn.Token = tok
	}
	if cfg.TLSCA != "" {
		tc, err := config.ClientTLS(cfg.TLSCA)
		if err != nil {
			return &config.UsageError{Err: err}
		}
		rn.Client = &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
	}
	// As in a server: the commands' orphans reaped, their groups killed if
	// the runner dies (the supervisor), and SIGKILLed at exit.
	endCommands := c.Supervise(func(err error) {
		log.Warn("commands unsupervised: a kill -9 of the remote worker may leave their children running", "err", err)
	})
	defer endCommands()
	return rn.Run(stop, force)
}

// serve serves s, started, on ln until stop ends or serving fails, then shuts down.
func serve(s *server, ln net.Listener, cfg config.Config, stop, force context.Context, log *slog.Logger) error {
	// On a loopback listener only loopback Hosts and -allow-host's pass
	// (DNS rebinding): first, so that a page that rebound its name neither
	// learns that a token is wanted nor has the browser ask for one. Then
	// the -token-file check, before anything that reads or changes state;
	// the cross-origin check inside s.handler still refuses a page of
	// another site whose request the browser sent with the Basic
	// credentials it remembers.
	h := auth.Handler(cfg.Tokens, s.unauthorized, s.handler)
	hs := api.NewHTTPServer(hostguard.Handler(ln.Addr(), cfg.AllowHosts, h), api.DefaultLimits(), log)
	l := api.JSONErrors(ln)
	if cfg.TLSCert != "" {
		tc, err := config.ServerTLS(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			s.drain(force)
			return err
		}
		// Outside JSONErrors, so that net/http sees its *tls.Conn: the
		// handshake's timeout, r.TLS, and a 400 for plain HTTP.
		l = tls.NewListener(l, tc)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	serveErr := make(chan error, 1)
	wg.Go(func() { serveErr <- hs.Serve(l) })
	attrs := []any{"addr", ln.Addr().String(), "workers", cfg.Workers, "queue", cfg.Queue}
	if cfg.TLSCert != "" {
		attrs = append(attrs, "tls", true)
	}
	if cfg.Tokens != nil {
		attrs = append(attrs, "tokens", true)
	}
	log.Info("listening", attrs...)
	if cfg.Tokens == nil && !config.Loopback(cfg.Addr) { // -insecure
		log.Warn("-insecure: listening beyond loopback without -token-file; anyone who can reach the address can run jobs", "addr", ln.Addr().String())
	}

	var failed error
	select {
	case <-stop.Done():
		var sig *signals.Error
		if errors.As(context.Cause(stop), &sig) {
			log.Info("draining", "signal", sig.Sig.String(), "queued", s.queue.Len(), "running", s.stats.Busy.Load())
		} else {
			log.Info("draining", "reason", context.Cause(stop), "queued", s.queue.Len(), "running", s.stats.Busy.Load())
		}
	case err := <-serveErr:
		failed = fmt.Errorf("serving on %s: %w", ln.Addr(), err)
		log.Error("cannot serve, draining", "err", failed)
	}
	return errors.Join(failed, shutdown(s, hs, cfg.ShutdownTimeout, force, log))
}

// shutdown drains s while hs keeps answering, then closes hs gracefully.
// The drain gives up when timeout passes or force ends (a second signal),
// closing hs at once, and returns an *abandonedError. Connections still open
// once every job has run (idle, or a client that sent half a request) are
// closed when timeout passes, and that is no error: exit 1 means the drain
// did not complete. Only force ending then, a second signal, is an error.
func shutdown(s *server, hs *http.Server, timeout time.Duration, force context.Context, log *slog.Logger) error {
	ctx, cancel := context.WithTimeoutCause(force, timeout,
		fmt.Errorf("-shutdown-timeout %s exceeded", timeout))
	defer cancel()
	if err := s.drain(ctx); err != nil {
		var ab *abandonedError
		errors.As(err, &ab)
		if s.journal != nil {
			log.Error("drain abandoned; the unfinished jobs stay in the journal and run at the next start",
				"abandoned", ab.jobs, "ids", strings.Join(ab.ids, ","), "more", ab.more, "reason", ab.why, "journal", s.journal.Dir())
		} else {
			log.Error("drain abandoned", "abandoned", ab.jobs, "ids", strings.Join(ab.ids, ","), "more", ab.more, "reason", ab.why)
		}
		hs.Close()
		return err
	}
	log.Info("drained", "done", s.stats.Done.Load(), "canceled", s.stats.Canceled.Load(), "failed", s.stats.Failed.Load())
	if err := hs.Shutdown(ctx); err != nil {
		hs.Close()
		if force.Err() != nil {
			return fmt.Errorf("closing connections cut short: %w", context.Cause(force))
		}
		log.Info("closed connections still open at -shutdown-timeout", "reason", context.Cause(ctx))
	}
	return nil
}

// unauthorized counts r, answered 401 for want of a token, among the
// refused submissions if it was one.
func (s *server) unauthorized(r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/work" {
		s.stats.RejectedUnauthorized.Add(1)
	}
}

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
	env        *workerEnv         // what the workers share
	journal    *jobjournal.Log    // nil without -journal
	retry      *retry.Retrier     // jobs waiting out a backoff before their next attempt
	life       *lifecycle.Effects // makes each change of a job's state, with its effects
	attempts   *metrics.Attempts  // attempts by outcome, and how long they ran
	remote     *remote.Server     // the remote workers' claims and leases

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
	if b := cfg.PayloadBounds; b != [2]int64{} {
		s.jobs.SetPayloadBounds(cmp.Or(b[0], store.MaxUnfinishedPayload), cmp.Or(b[1], store.MaxFinishedPayload))
	}
	s.stopping = make(chan struct{})
	s.out = lines.NewWriter(stdout, log)
	s.api = &api.Server{Queue: s.queue, Jobs: s.jobs, Stats: stats, Log: log, LogDropped: new(atomic.Int64), Stopping: s.stopping}
	s.events = events.New(s.api.StatsEvent)
	s.events.Jobs = s.jobs.Older // the state a reset stream is sent: every job the store keeps
	s.life = lifecycle.New(s.jobs, stats, s.events)
	s.retry = retry.New(cfg.Retries, s.queue, s.life, log)
	s.life.OnCancel = s.retry.Forget // a job canceled while waiting out its backoff
	s.attempts = metrics.NewAttempts()
	s.api.Events, s.api.Retry, s.api.Attempts, s.api.Life = s.events, s.retry, s.attempts, s.life
	env := &workerEnv{do: work, ctx: ctx, out: s.out, life: s.life, stats: s.stats, log: log,
		retry: s.retry, attempts: s.attempts, durableStart: cfg.Command != nil, silent: cfg.Command != nil}
	workerQueue := make(WorkerQueue, 2*cfg.MaxWorkers) // local workers, and as many remote ones in a claim
	s.pool = pool.New(cfg.MaxWorkers, workerQueue, func(id int, work chan *WorkRequest) {
		w := NewWorker(id, work, workerQueue, env)
		w.pool = s.pool
		w.Run()
	})
	s.api.Pool = s.pool
	s.remote = &remote.Server{Pool: s.pool, Queue: s.queue, Jobs: s.jobs, Life: s.life, Retry: s.retry,
		Attempts: s.attempts, Log: log}
	s.remote.Start()
	s.api.Remote = s.remote
	s.dispatcher = NewDispatcher(s.queue, workerQueue, s.pool, cfg.Workers)
	s.giveUp = func() {
		s.dispatcher.Abort()
		abandon(errAbandoned)
		s.remote.Abandon(errAbandoned)
	}
	s.env = env
	s.collector = &Collector{queue: s.queue, jobs: s.jobs, keys: keys, stats: s.stats, events: s.events,
		limits: submit.Limits{MaxDelay: cfg.MaxDelay, MaxRetries: cfg.MaxRetries, Command: cfg.Command != nil,
			MaxPayload: cfg.MaxPayload, MaxAhead: cfg.MaxAhead, MaxBatch: cfg.MaxBatch},
		log: log, debug: log.Enabled(context.Background(), slog.LevelDebug), node: cfg.Node,
		retry: s.retry, maxScheduled: cfg.MaxScheduled}
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
	case <-s.done: // and the remote workers' jobs, once they report
		if s.remote.Wait(ctx) == nil {
			s.out.Close(outputWait) // nothing is pending: every worker wrote its line
			return nil
		}
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

// recover opens the journal of cfg, if any, and rebuilds s from it: the
// finished jobs (the newest finishedKept) answer GET again, canceled ones
// stay canceled, and every job that was queued or running is queued again
// in id order, beyond -queue if need be, while new ids continue after the
// largest ever given. Call it before
// s.start. It stops, with ctx's cause, if ctx ends first.
func (s *server) recover(ctx context.Context, cfg config.Config) error {
	if cfg.JournalDir == "" {
		return nil
	}
	began := time.Now()
	jj, err := jobjournal.Open(cfg.JournalDir, journal.Options{
		Sync:    cfg.Fsync,
		Live:    s.jobs.Has, // compaction keeps the records of the jobs the store keeps
		Logger:  s.log,
		OnFsync: s.stats.Fsync.Observe,
	})
	if err != nil {
		return err
	}
	rep, err := jj.Replay(ctx, cfg.Node)
	if err == nil && rep.Node == "" && cfg.Node != "" {
		err = jj.Node(cfg.Node) // a new journal: from now on it is cfg.Node's
	}
	if err != nil {
		jj.Close()
		return err
	}
	canceled := 0
	s.jobs.Reserve(len(rep.Finished) + len(rep.Unfinished))
	for _, r := range rep.Finished {
		s.jobs.Add(r)
		s.restoreKey(r)
		s.jobs.Finished(r)
		if r.State() == job.Canceled {
			canceled++
		}
	}
	for _, r := range rep.Unfinished {
		s.jobs.Add(r)
		s.restoreKey(r)
	}
	scheduled := s.requeue(rep.Unfinished, cfg.Command != nil, time.Now())
	n := int64(len(rep.Unfinished))
	s.stats.Accepted.Add(n) // so that the drain waits for them
	s.stats.Replayed.Add(n)
	s.collector.lastID.Store(jj.Journal().MaxKey())
	s.useJournal(jj)
	s.log.Info("journal replayed", "dir", cfg.JournalDir, "queued", n, "finished", len(rep.Finished),
		"canceled", canceled, "scheduled", scheduled, "records", rep.Records, "next_id", jj.Journal().MaxKey()+1,
		"bytes", jj.Journal().Bytes(), "took", time.Since(began).Round(time.Microsecond))
	return nil
}

// requeue puts rs, the unfinished jobs of the journal in id order, back to
// wait: those whose run_at is still ahead of now wait for it again, holding
// no worker; the others enter WorkQueue, never refused, each at the time it
// would have entered it: an ordinary job at its acceptance, a scheduled one
// whose time passed while the server was down at its run_at, so that these
// run at once, in run_at order. With a command, a job journaled with a
// delay and no run_at (before run_at existed) takes acceptance + delay as
// its run_at. It returns how many wait for their run_at.
func (s *server) requeue(rs []*WorkRequest, command bool, now time.Time) int {
	var ordinary, overdue []*WorkRequest
	scheduled := 0
	for _, r := range rs {
		if command && r.RunAt.IsZero() && r.Delay > 0 {
			r.RunAt = r.EnqueuedAt.Add(r.Delay) // no one else holds r yet
		}
		switch {
		case r.RunAt.After(now):
			s.retry.Schedule(r, r.RunAt, -1) // not draining, and unbounded: never refused
			scheduled++
		case r.RunAt.IsZero():
			ordinary = append(ordinary, r)
		default:
			overdue = append(overdue, r)
		}
	}
	slices.SortStableFunc(overdue, func(a, b *WorkRequest) int { return a.RunAt.Compare(b.RunAt) })
	for len(ordinary) > 0 || len(overdue) > 0 {
		var r *WorkRequest
		if len(overdue) == 0 || len(ordinary) > 0 && !overdue[0].RunAt.Before(ordinary[0].EnqueuedAt) {
			r, ordinary = ordinary[0], ordinary[1:]
		} else {
			r, overdue = overdue[0], overdue[1:]
		}
		s.queue.PushForced(r) // the dispatcher has not started: the queue is open
	}
	return scheduled
}

// useJournal makes s record every job's life in jj from now on.
func (s *server) useJournal(jj *jobjournal.Log) {
	s.journal = jj
	s.api.Journal = jj
	s.remote.Journal = jj
	s.collector.journal = jj
	s.life.UseJournal(jj)
	if !s.env.silent { // a command job has no greeting to write before it settles
		s.env.finisher = lines.NewBatcher[completion](finishBatch, finishBatch)
	}
}

// restoreKey binds r's idempotency key, if it has one, to r: the journal's
// replay calls it for each job it adds to the store, before Finished.
func (s *server) restoreKey(r *WorkRequest) {
	if r.Key != "" {
		s.keys.Restore(r.Key, r.Seq, r.Name, r.Delay)
	}
}
