// Workqueue is a small HTTP job-queue server: the classic Go worker-queue
// design, made correct.
//
// A Collector handles POST /work and pushes each WorkRequest onto a buffered
// WorkQueue, answering 503 at once when it is full. One dispatcher goroutine
// takes each request off WorkQueue and hands it to the next idle Worker,
// whose own channel it takes from WorkerQueue, a buffered channel of the
// workers' channels. A worker waits out the request's delay, runs the
// command given after -- if there is one (the job is done only if it exits
// 0, and is retried up to -retries times if not), prints
// "worker<K>: Hello, <NAME>!" on standard output for a done job, and puts its
// channel back.
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
//	          [-retries 0] [-job-timeout 0] [-- COMMAND [ARG...]]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"workqueue/internal/config"
	"workqueue/internal/lines"
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
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
	stop, force, unwatch := watchSignals(ctx, signals)
	defer unwatch()
	cfg, err := config.Parse(args, stderr)
	if err != nil {
		return err
	}
	c, err := newCommand(cfg)
	if err != nil {
		return err
	}
	logDropped := new(atomic.Int64)
	logw := lines.NewLog(stderr, logLines, logDropped)
	defer logw.Close(logWait)
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: cfg.LogLevel}))
	s := newServer(cfg, workFor(c), stdout, log)
	s.logDropped = logDropped
	if err := s.recover(stop, cfg); err != nil {
		if stop.Err() != nil {
			return fmt.Errorf("stopped while starting: %w", context.Cause(stop))
		}
		return err
	}
	defer s.journal.close()
	endCommands := c.Supervise() // reaps what commands orphan; at exit SIGKILLs every group they left
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

// serve serves s, started, on ln until stop ends or serving fails, then shuts down.
func serve(s *server, ln net.Listener, cfg config.Config, stop, force context.Context, log *slog.Logger) error {
	hs := newHTTPServer(s.handler, defaultLimits(), log)
	var wg sync.WaitGroup
	defer wg.Wait()
	serveErr := make(chan error, 1)
	wg.Go(func() { serveErr <- hs.Serve(ln) })
	log.Info("listening", "addr", ln.Addr().String(), "workers", cfg.Workers, "queue", cfg.Queue)

	var failed error
	select {
	case <-stop.Done():
		var sig *signalError
		if errors.As(context.Cause(stop), &sig) {
			log.Info("draining", "signal", sig.sig.String(), "queued", s.queue.Len(), "running", s.stats.Busy.Load())
		} else {
			log.Info("draining", "reason", context.Cause(stop), "queued", s.queue.Len(), "running", s.stats.Busy.Load())
		}
	case err := <-serveErr:
		failed = fmt.Errorf("serving on %s: %w", ln.Addr(), err)
		log.Error("cannot serve, draining", "err", failed)
	}
	return errors.Join(failed, shutdown(s, hs, cfg.ShutdownTimeout, force, log))
}

// httpLimits are the http.Server's limits on slow or greedy clients.
type httpLimits struct {
	readHeader, read, write, idle time.Duration
	maxHeaderBytes                int
}

// defaultLimits returns the limits the server runs with:
//   - 5 s to send the request line and headers: a client that sends half a
//     request and stops is cut off then, holding one goroutine until it is;
//   - 10 s for the whole request, body included: bodies are at most 64 KiB,
//     which even a slow link sends in well under that;
//   - 10 s to take the answer: a few hundred bytes of JSON;
//   - a minute for an idle keep-alive connection, so clients that submit
//     often reuse connections and idle ones do not pile up;
//   - 64 KiB of request line and headers, plenty for any real client (the
//     default is 1 MiB). net/http reads MaxHeaderBytes plus 4096 bytes of
//     slack before it answers 431 (initialReadLimitSize in net/http's
//     server.go), so MaxHeaderBytes is 4 KiB less than the limit meant.
func defaultLimits() httpLimits {
	return httpLimits{
		readHeader:     5 * time.Second,
		read:           10 * time.Second,
		write:          10 * time.Second,
		idle:           time.Minute,
		maxHeaderBytes: 64<<10 - 4096,
	}
}

// newHTTPServer returns the http.Server for handler with the given limits,
// logging through log.
func newHTTPServer(handler http.Handler, limits httpLimits, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ReadHeaderTimeout: limits.readHeader,
		ReadTimeout:       limits.read,
		WriteTimeout:      limits.write,
		IdleTimeout:       limits.idle,
		MaxHeaderBytes:    limits.maxHeaderBytes,
	}
}
