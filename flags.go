package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"workqueue/internal/command"
	"workqueue/internal/journal"
)

// usageError is a bad command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }

const usage = `workqueue runs an HTTP job queue. Each job is a name and a delay: one of
the workers waits out the delay, then prints "worker<K>: Hello, <NAME>!".
Given a COMMAND after --, each job then runs it too, without a shell; the job
reaches it through its environment (WORKQUEUE_JOB_ID, WORKQUEUE_NAME,
WORKQUEUE_ATTEMPT) and standard input (the name), never its arguments, and
the job is done only if it exits 0.

Usage:
  workqueue [flags]
  workqueue [flags] -- COMMAND [ARG...]

Flags:
  -n N                        number of workers at start, 1 to -max-workers
                              (default 4)
  -max-workers N              most workers PUT /workers may ask for, 1 to
                              1024 (default 1024)
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
  -retries N                  with a COMMAND: how many times a failed attempt
                              is tried again, after 1s, 2s, 4s ... (at most
                              1m, +-20%), 0 to 100 (default 0)
  -job-timeout DURATION       with a COMMAND: longest one attempt may run
                              before its process group gets SIGTERM, then
                              SIGKILL 5s later; 0 for no limit, at most 24h
                              (default 0)

Durations are written like 250ms, 1.5s or 2m. A second signal stops at once,
exiting 1.

Example:
  workqueue -n 8 &
  curl -d name=Alice -d delay=1s http://127.0.0.1:8000/work
  workqueue -n 4 -retries 3 -job-timeout 1m -- scripts/examples/flaky.sh
`

// defaultConfig returns the configuration with no flags given, as the usage
// text and SPEC.md state it.
func defaultConfig() config {
	return config{
		workers:         4,
		maxWorkers:      maxWorkersLimit,
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
	flags, command, hasCommand := cutCommand(args)
	fs.Func("n", "", wholeNumber(&cfg.workers, 1, maxWorkersLimit))
	fs.Func("max-workers", "", wholeNumber(&cfg.maxWorkers, 1, maxWorkersLimit))
	fs.Func("http", "", listenAddr(&cfg.addr))
	fs.Func("queue", "", wholeNumber(&cfg.queue, 1, maxQueue))
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
	fs.Func("retries", "", wholeNumber(&cfg.retries, 0, maxRetries))
	fs.Func("job-timeout", "", duration(&cfg.jobTimeout, false, maxJobTimeout))
	switch err := fs.Parse(flags); {
	case errors.Is(err, flag.ErrHelp):
		io.WriteString(stderr, usage)
		return cfg, err
	case err != nil:
		return cfg, &usageError{err}
	case fs.NArg() > 0:
		return cfg, &usageError{fmt.Errorf("unexpected argument %q: workqueue takes flags, then -- COMMAND [ARG...] if its jobs run a command", fs.Arg(0))}
	case cfg.workers > cfg.maxWorkers:
		return cfg, &usageError{fmt.Errorf("-n %d is above -max-workers %d", cfg.workers, cfg.maxWorkers)}
	case fsync != "" && cfg.journalDir == "":
		return cfg, &usageError{fmt.Errorf("-fsync %s needs -journal DIR: without a journal nothing is written to disk", fsync)}
	}
	return cfg, setCommand(&cfg, command, hasCommand)
}

// cutCommand splits args at the first "--" into the flags before it and the
// command after it, and reports whether there was a "--". Splitting before
// parsing, rather than letting package flag stop at "--", keeps a flag that
// lacks its value (-n --) from taking "--" as one.
func cutCommand(args []string) (flags, command []string, ok bool) {
	i := slices.Index(args, "--")
	if i < 0 {
		return args, nil, false
	}
	return args[:i], args[i+1:], true
}

// setCommand sets cfg.command from the words after "--", if there was one,
// looking the command up in $PATH now so that a typo exits 2 at start rather
// than failing every job. -retries and -job-timeout need a command: with the
// greeting alone no attempt can fail or overrun, and a flag that silently
// does nothing is a trap.
func setCommand(cfg *config, argv []string, ok bool) error {
	if !ok {
		switch {
		case cfg.jobTimeout > 0:
			return &usageError{errors.New("-job-timeout applies to a command: give one after --, as in workqueue -job-timeout 30s -- COMMAND [ARG...]")}
		case cfg.retries > 0:
			return &usageError{errors.New("-retries applies to a command: give one after --, as in workqueue -retries 3 -- COMMAND [ARG...]")}
		}
		return nil
	}
	if len(argv) == 0 {
		return &usageError{errors.New("-- must be followed by the COMMAND each job runs, as in workqueue -- scripts/examples/flaky.sh")}
	}
	c, err := command.New(argv, cfg.jobTimeout)
	if err != nil {
		return &usageError{err}
	}
	cfg.command = c
	return nil
}

// Upper bounds of the size flags, so that no flag can exhaust the machine.
const (
	// maxWorkersLimit bounds -max-workers, and so -n: each worker is a
	// goroutine and a slot in WorkerQueue, and more workers than this only
	// contend for the CPU. -max-workers defaults to it.
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
	// maxRetries bounds -retries: past 100 attempts, with backoffs capped at
	// a minute, a job that keeps failing is broken, not unlucky.
	maxRetries = 100
	// maxJobTimeout bounds -job-timeout, as maxMaxDelay bounds the delay.
	maxJobTimeout = 24 * time.Hour
)

// wholeNumber returns a flag setter for a whole number from min to max.
func wholeNumber(p *int, min, max int) func(string) error {
	return func(s string) error {
		n, err := strconv.Atoi(s)
		switch {
		case errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(s, "-"):
			return fmt.Errorf("must be at most %d", max)
		case err != nil:
			return errors.New("not a whole number")
		case n < min:
			return fmt.Errorf("must be at least %d", min)
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
