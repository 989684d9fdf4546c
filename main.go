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
// On SIGINT or SIGTERM it stops accepting work, runs every job it accepted,
// and exits 0; past -shutdown-timeout, or on a second signal, it exits 1.
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
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	var usage *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "workqueue: %v (see workqueue -h)\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "workqueue: %v\n", err)
		os.Exit(1)
	}
}

// run is the whole program: it parses args, serves until ctx is canceled or
// the process gets SIGINT or SIGTERM, then drains. It returns nil after a
// complete drain, a *usageError for bad flags, flag.ErrHelp for -h, and any
// other error when the server could not start or gave up on its drain.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	// Catch signals before saying we listen: whoever acts on that line may
	// signal at once, and an uncaught SIGTERM would kill without a drain.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("cannot listen on -http %s: %w", cfg.addr, err)
	}
	s := newServer(cfg, Sleep, stdout, log)
	s.start()
	hs := newHTTPServer(s.handler, defaultLimits(), log)
	var wg sync.WaitGroup
	defer wg.Wait()
	serveErr := make(chan error, 1)
	wg.Go(func() { serveErr <- hs.Serve(ln) })
	log.Info("listening", "addr", ln.Addr().String(), "workers", cfg.workers, "queue", cfg.queue)

	var failed error
	select {
	case <-ctx.Done():
		log.Info("draining", "reason", context.Cause(ctx), "queued", s.queue.Len(), "running", s.stats.Busy.Load())
	case sig := <-signals:
		log.Info("draining", "signal", sig.String(), "queued", s.queue.Len(), "running", s.stats.Busy.Load())
	case err := <-serveErr:
		failed = fmt.Errorf("serving on %s: %w", ln.Addr(), err)
		log.Error("cannot serve, draining", "err", failed)
	}
	return errors.Join(failed, shutdown(s, hs, cfg.shutdownTimeout, signals, log))
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

// shutdown drains s while hs keeps answering, then closes hs gracefully. It
// gives up, closing hs at once, when timeout passes or a signal arrives, and
// then returns an *abandonedError.
func shutdown(s *server, hs *http.Server, timeout time.Duration, signals <-chan os.Signal, log *slog.Logger) error {
	ctx, cancel := context.WithTimeoutCause(context.Background(), timeout,
		fmt.Errorf("-shutdown-timeout %s exceeded", timeout))
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	stopNow, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	wg.Go(func() {
		select {
		case sig := <-signals:
			stop(fmt.Errorf("second signal %s", sig))
		case <-stopNow.Done():
		}
	})
	if err := s.drain(stopNow); err != nil {
		var ab *abandonedError
		errors.As(err, &ab)
		log.Error("drain abandoned", "abandoned", ab.jobs, "reason", ab.why)
		hs.Close()
		return err
	}
	log.Info("drained", "done", s.stats.Done.Load(), "canceled", s.stats.Canceled.Load(), "failed", s.stats.Failed.Load())
	if err := hs.Shutdown(ctx); err != nil {
		hs.Close()
		return fmt.Errorf("closing connections: %w", err)
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
  -n N                        number of workers (default 4)
  -http ADDR                  address to listen on (default 127.0.0.1:8000)
  -queue N                    jobs that may wait for a worker; beyond that,
                              POST /work answers 503 (default 100)
  -max-delay DURATION         largest delay a job may ask for (default 10s)
  -shutdown-timeout DURATION  how long SIGINT or SIGTERM waits for accepted
                              jobs before giving up and exiting 1 (default 30s)
  -log-level LEVEL            debug, info, warn or error (default info)

Durations are written like 250ms, 1.5s or 2m.

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
	fs.Func("n", "", atLeastOne(&cfg.workers))
	fs.StringVar(&cfg.addr, "http", cfg.addr, "")
	fs.Func("queue", "", atLeastOne(&cfg.queue))
	fs.Func("max-delay", "", duration(&cfg.maxDelay, false))
	fs.Func("shutdown-timeout", "", duration(&cfg.shutdownTimeout, true))
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

// atLeastOne returns a flag setter for a whole number of at least 1.
func atLeastOne(p *int) func(string) error {
	return func(s string) error {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			return errors.New("not a whole number")
		case n < 1:
			return errors.New("must be at least 1")
		}
		*p = n
		return nil
	}
}

// duration returns a flag setter for a duration that is not negative and,
// if positive is set, not zero either.
func duration(p *time.Duration, positive bool) func(string) error {
	return func(s string) error {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		switch {
		case err != nil:
			return errors.New("not a duration such as 500ms, 10s or 1m")
		case d < 0:
			return errors.New("must not be negative")
		case d == 0 && positive:
			return errors.New("must be more than 0s")
		}
		*p = d
		return nil
	}
}
