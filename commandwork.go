package main

import (
	"context"

	"workqueue/internal/command"
	"workqueue/internal/config"
)

// commandWork returns the server's Work with -- COMMAND, c: before a job's
// first attempt it waits out the job's delay, as Sleep does, then it runs the
// attempt and keeps its output on the job. Retries do not wait for the delay
// again: their backoff is their wait.
func commandWork(c *command.Command) Work {
	return func(ctx context.Context, r *WorkRequest) error {
		attempt := r.Attempts()
		if attempt <= 1 {
			if err := Sleep(ctx, r); err != nil {
				return err
			}
		}
		out, truncated, err := c.Run(ctx, command.Job{ID: r.ID, Name: r.Name, Attempt: attempt})
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
