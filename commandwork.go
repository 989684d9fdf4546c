package main

import (
	"context"

	"workqueue/internal/command"
)

// commandWork returns the server's Work with -- COMMAND, c: before a job's
// first attempt it waits out the job's delay, as Sleep does, then it runs the
// attempt and keeps its output on the job. Retries do not wait for the delay
// again: their backoff is their wait.
func commandWork(c *command.Command) Work {
	return func(ctx context.Context, r *WorkRequest) error {
		attempt := r.attemptsMade()
		if attempt <= 1 {
			if err := Sleep(ctx, r); err != nil {
				return err
			}
		}
		out, truncated, err := c.Run(ctx, command.Job{ID: r.ID, Name: r.Name, Attempt: attempt})
		r.setOutput(out, truncated)
		return err
	}
}

// setOutput keeps output, the end of what r's latest attempt printed, as r's
// output; truncated tells whether its beginning was cut.
func (r *WorkRequest) setOutput(output []byte, truncated bool) {
	s := string(output)
	r.mu.Lock()
	r.output, r.truncated = s, truncated
	r.mu.Unlock()
}

// work returns the Work the configuration asks for: the command's, given one
// after --, else Sleep.
func (c config) work() Work {
	if c.command == nil {
		return Sleep
	}
	return commandWork(c.command)
}
