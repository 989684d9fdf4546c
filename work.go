package main

import (
	"context"
	"strconv"
	"time"

	"workqueue/internal/command"
	"workqueue/internal/config"
	"workqueue/internal/job"
)

// WorkRequest is one job, the classic design's unit of work: the Collector
// makes it, WorkQueue carries it to the dispatcher, and one Worker runs it.
// Its life (queued, running, done, canceled, failed) and every change of it
// are package job's.
type WorkRequest = job.Job

// Work is the work a Worker performs for a request before it greets the
// request's name. It returns nil when the work is complete, or an error when
// it could not be completed, ctx.Err() when ctx was canceled. It may panic:
// the worker recovers and fails the request. Tests replace it.
type Work func(ctx context.Context, r *WorkRequest) error

// Sleep is the server's Work: it waits for the request's delay, or until ctx
// is canceled.
func Sleep(ctx context.Context, r *WorkRequest) error {
	if r.Delay <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(r.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// appendGreeting appends to b the line a worker prints when it completes r,
// "worker<K>: Hello, <NAME>!\n", and returns the extended buffer.
func appendGreeting(b []byte, r *WorkRequest, worker int) []byte {
	b = append(b, "worker"...)
	b = strconv.AppendInt(b, int64(worker), 10)
	b = append(b, ": Hello, "...)
	b = append(b, r.Name...)
	return append(b, "!\n"...)
}

// commandWork returns the server's Work with -- COMMAND, c: it runs the
// attempt, its payload on standard input, and keeps its output on the job.
// It does not wait out the job's delay: with a command, a delay is a time to
// run (run_at, now + delay), which the job waited for holding no worker.
func commandWork(c *command.Command) Work {
	return func(ctx context.Context, r *WorkRequest) error {
		payload, _ := r.Payload() // an unfinished job's is never dropped
		out, truncated, err := c.Run(ctx, command.Job{ID: r.ID, Name: r.Name, Attempt: r.Attempts(), Timeout: r.Policy.Timeout, Payload: payload})
		r.SetOutput(out, truncated)
		return err
	}
}

// newCommand returns the Command of cfg.Command, the words after --, or nil
// without them. It looks the command up in $PATH now, so that a typo exits 2
// at start rather than failing every job: its error is a *config.UsageError.
func newCommand(cfg config.Config) (*command.Command, error) {
	if cfg.Command == nil {
		return nil, nil
	}
	c, err := command.New(cfg.Command, cfg.JobTimeout)
	if err != nil {
		return nil, &config.UsageError{Err: err}
	}
	return c, nil
}

// workFor returns the Work of c, the command given after --, or Sleep
// without one.
func workFor(c *command.Command) Work {
	if c == nil {
		return Sleep
	}
	return commandWork(c)
}
