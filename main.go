// Workqueue is a small HTTP job-queue server: the classic Go worker-queue
// design, made correct.
//
// A Collector handles POST /work and pushes each WorkRequest onto a buffered
// WorkQueue, answering 503 at once when it is full. One dispatcher goroutine
// takes each request off WorkQueue and hands it to the next idle Worker,
// whose own channel it takes from WorkerQueue, a buffered channel of the
// workers' channels. A worker waits out the request's delay, prints
// "worker<K>: Hello, <NAME>!" on standard output, and puts its channel back.
//
// On SIGINT, SIGTERM or SIGHUP it stops accepting work, runs every job it
// accepted, and exits 0; past -shutdown-timeout, or on a second signal, it
// exits 1. Neither a standard output nor a standard error that stops taking
// lines, nor one whose reader went away, holds up the API or the drain.
//
// Usage:
//
//	workqueue [-n 4] [-http 127.0.0.1:8000] [-queue 100] [-max-delay 10s]
//	          [-shutdown-timeout 30s] [-log-level info]
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
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
	var usage *usageError
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
// after a complete drain, a *usageError for bad flags, flag.ErrHelp for -h,
// and any other error when the server could not start, was stopped while
// starting, or gave up on its drain.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runWith(ctx, args, stdout, stderr, nil)
}

// startHook is start-up work run before the server listens; it must return
// soon after ctx ends, with an error. Tests pass a slow one; the journal's
// replay will be one.
type startHook func(ctx context.Context) error

// logWait is how long run waits at exit for its log to reach standard error.
const logWait = 500 * time.Millisecond

// runWith is run with hook, if not nil, run during start-up.
func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, hook startHook) error {
	// Catch signals first: whoever started us may signal at once, and an
	// uncaught SIGTERM would kill without a drain.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
	stop, force, unwatch := watchSignals(ctx, signals)
	defer unwatch()
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logw := newLogWriter(stderr, logLines)
	defer logw.Close(logWait)
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: cfg.logLevel}))
	s := newServer(cfg, Sleep, stdout, log)
	s.logDropped = &logw.dropped
	s.start()
	if hook != nil {
		if err := hook(stop); err != nil {
			s.drain(force) // nothing was accepted: this only stops the flusher
			if stop.Err() != nil {
				return fmt.Errorf("stopped while starting: %w", context.Cause(stop))
			}
			return fmt.Errorf("starting: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		s.drain(force)
		return fmt.Errorf("cannot listen on -http %s: %w", cfg.addr, err)
	}
	return serve(s, ln, cfg, stop, force, log)
}

// serve serves s, started, on ln until stop ends or serving fails, then shuts down.
func serve(s *server, ln net.Listener, cfg config, stop, force context.Context, log *slog.Logger) error {
	hs := newHTTPServer(s.handler, defaultLimits(), log)
	var wg sync.WaitGroup
	defer wg.Wait()
	serveErr := make(chan error, 1)
	wg.Go(func() { serveErr <- hs.Serve(ln) })
	log.Info("listening", "addr", ln.Addr().String(), "workers", cfg.workers, "queue", cfg.queue)

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
	return errors.Join(failed, shutdown(s, hs, cfg.shutdownTimeout, force, log))
}

// signalError is why the server stops: it got a signal.
type signalError struct{ sig os.Signal }

func (e *signalError) Error() string { return "signal " + e.sig.String() }

// watchSignals returns two contexts: stop, canceled by the first signal on
// signals or when ctx ends, and force, canceled by the signal after that.
// Every phase of the process (start-up, serving, the drain, closing
// connections) watches one of them. unwatch ends the watching goroutine and
// waits for it.
func watchSignals(ctx context.Context, signals <-chan os.Signal) (stop, force context.Context, unwatch func()) {
	stop, stopCancel := context.WithCancelCause(context.Background())
	force, forceCancel := context.WithCancelCause(context.Background())
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case sig := <-signals:
			stopCancel(&signalError{sig})
		case <-ctx.Done():
			stopCancel(context.Cause(ctx))
		case <-quit:
			return
		}
		select {
		case sig := <-signals:
			forceCancel(fmt.Errorf("second signal %s", sig))
		case <-quit:
		}
	})
	return stop, force, func() {
		close(quit)
		wg.Wait()
		stopCancel(nil)
		forceCancel(nil)
	}
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
//   - 64 KiB of headers, plenty for any real client (the default is 1 MiB).
func defaultLimits() httpLimits {
	return httpLimits{
		readHeader:     5 * time.Second,
		read:           10 * time.Second,
		write:          10 * time.Second,
		idle:           time.Minute,
		maxHeaderBytes: 64 << 10,
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
		log.Error("drain abandoned", "abandoned", ab.jobs, "ids", strings.Join(ab.ids, ","), "more", ab.more, "reason", ab.why)
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

// usageError is a bad command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }

const usage = `workqueue runs an HTTP job queue. Each job is a name and a delay: one of
the workers waits out the delay, then prints "worker<K>: Hello, <NAME>!".

Usage:
  workqueue [flags]

Flags:
  -n N                        number of workers, 1 to 1024 (default 4)
  -http HOST:PORT             address to listen on (default 127.0.0.1:8000)
  -queue N                    jobs that may wait for a worker, 1 to 1000000;
                              beyond that, POST /work answers 503 (default 100)
  -max-delay DURATION         largest delay a job may ask for, at most 24h
                              (default 10s)
  -shutdown-timeout DURATION  how long SIGINT, SIGTERM or SIGHUP waits for
                              accepted jobs before giving up and exiting 1,
                              at most 24h (default 30s)
  -log-level LEVEL            debug, info, warn or error (default info)

Durations are written like 250ms, 1.5s or 2m. A second signal stops at once,
exiting 1.

Example:
  workqueue -n 8 &
  curl -d name=Alice -d delay=1s http://127.0.0.1:8000/work
`

// defaultConfig returns the configuration with no flags given, as the usage
// text and SPEC.md state it.
func defaultConfig() config {
	return config{
		workers:         4,
		addr:            "127.0.0.1:8000",
		queue:           100,
		maxDelay:        10 * time.Second,
		shutdownTimeout: 30 * time.Second,
		logLevel:        slog.LevelInfo,
	}
}

// parseFlags parses the command line into a config, starting from
// defaultConfig. It writes the usage text to stderr for -h.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("workqueue", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Func("n", "", wholeNumber(&cfg.workers, maxWorkersLimit))
	fs.Func("http", "", listenAddr(&cfg.addr))
	fs.Func("queue", "", wholeNumber(&cfg.queue, maxQueue))
	fs.Func("max-delay", "", duration(&cfg.maxDelay, false, maxMaxDelay))
	fs.Func("shutdown-timeout", "", duration(&cfg.shutdownTimeout, true, maxShutdownTimeout))
	fs.Func("log-level", "", func(s string) error {
		switch strings.ToLower(s) {
		case "debug", "info", "warn", "error":
			return cfg.logLevel.UnmarshalText([]byte(s))
		}
		return errors.New("must be debug, info, warn or error")
	})
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		io.WriteString(stderr, usage)
		return cfg, err
	case err != nil:
		return cfg, &usageError{err}
	case fs.NArg() > 0:
		return cfg, &usageError{fmt.Errorf("unexpected argument %q: workqueue takes only flags", fs.Arg(0))}
	}
	return cfg, nil
}

// Upper bounds of the size flags, so that no flag can exhaust the machine.
const (
	// maxWorkersLimit bounds -n: each worker is a goroutine and a slot in
	// WorkerQueue, and more workers than this only contend for the CPU.
	// SPEC.md's (v2) -max-workers will default to it, and bound -n in turn.
	maxWorkersLimit = 1024
	// maxQueue bounds -queue. WorkQueue reserves a pointer a slot at start
	// (8 MB for a million), and each waiting job holds its record and a name
	// of up to 1 KiB, about 1.3 GB at worst for a million: a machine that
	// runs workqueue has that, and a queue longer than this would hold jobs
	// for longer than any client waits for them.
	maxQueue = 1_000_000
	// maxMaxDelay bounds -max-delay: a job that holds a worker for longer
	// than a day is a mistake (a unit typed wrong), not a plan.
	maxMaxDelay = 24 * time.Hour
	// maxShutdownTimeout bounds -shutdown-timeout for the same reason: a
	// drain longer than a day is one nobody is waiting for, and process
	// managers kill long before.
	maxShutdownTimeout = 24 * time.Hour
)

// wholeNumber returns a flag setter for a whole number from 1 to max.
func wholeNumber(p *int, max int) func(string) error {
	return func(s string) error {
		n, err := strconv.Atoi(s)
		switch {
		case errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(s, "-"):
			return fmt.Errorf("must be at most %d", max)
		case err != nil:
			return errors.New("not a whole number")
		case n < 1:
			return errors.New("must be at least 1")
		case n > max:
			return fmt.Errorf("must be at most %d", max)
		}
		*p = n
		return nil
	}
}

// duration returns a flag setter for a duration that is not negative, not
// more than max and, if positive is set, not zero either.
func duration(p *time.Duration, positive bool, max time.Duration) func(string) error {
	return func(s string) error {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		switch {
		case err != nil:
			return fmt.Errorf("not a duration such as 500ms, 10s or 1m (at most %v)", max)
		case d < 0:
			return errors.New("must not be negative")
		case d == 0 && positive:
			return errors.New("must be more than 0s")
		case d > max:
			return fmt.Errorf("must be at most %v", max)
		}
		*p = d
		return nil
	}
}

// listenAddr returns a flag setter for an address to listen on, host:port.
// A missing port is the common mistake (-http localhost): say what to give.
func listenAddr(p *string) func(string) error {
	return func(s string) error {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			example := "localhost:8000"
			if _, err := strconv.Atoi(s); err == nil {
				example = "localhost:" + s // a port without a host
			} else if s != "" && !strings.ContainsAny(s, ":[]") {
				example = s + ":8000" // a host without a port
			}
			return fmt.Errorf("want host:port, such as %s", example)
		}
		if n, err := strconv.Atoi(port); err == nil && (n < 0 || n > 65535) {
			return fmt.Errorf("the port must be from 0 to 65535, such as %s", net.JoinHostPort(host, "8000"))
		}
		*p = s
		return nil
	}
}
