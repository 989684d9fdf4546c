package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"workqueue/internal/journal"
)

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
  -journal DIR                keep a write-ahead journal of every job in DIR,
                              so that accepted jobs survive a crash or kill -9
                              and run after the restart (default: none, in
                              memory only)
  -fsync always|DURATION|never
                              with -journal: always, a 201 only once the job
                              is on disk; DURATION such as 50ms, flushed at
                              least that often (a crash may lose that window);
                              never, left to the OS (default always)

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
	fs.Func("journal", "", func(s string) error {
		if s == "" {
			return errors.New("want a directory, such as /var/lib/workqueue")
		}
		cfg.journalDir = s
		return nil
	})
	fsync := ""
	fs.Func("fsync", "", func(s string) error {
		sync, err := journal.ParseSync(s)
		if err != nil {
			return err
		}
		cfg.fsync, fsync = sync, s
		return nil
	})
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
	case fsync != "" && cfg.journalDir == "":
		return cfg, &usageError{fmt.Errorf("-fsync %s needs -journal DIR: without a journal nothing is written to disk", fsync)}
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
