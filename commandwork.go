package main

import "context"

// Work is the server's Work with -- COMMAND: before a job's first attempt it
// waits out the job's delay, as Sleep does, then it runs the attempt and
// keeps its output on the job. Retries do not wait for the delay again:
// their backoff is their wait.
func (c *Command) Work(ctx context.Context, r *WorkRequest) error {
	attempt := r.Attempts()
	if attempt <= 1 {
		if err := Sleep(ctx, r); err != nil {
			return err
		}
	}
	out, truncated, err := c.Run(ctx, CommandJob{ID: r.ID, Name: r.Name, Attempt: attempt})
	r.SetOutput(out, truncated)
	return err
}

// work returns the Work the configuration asks for: the command's, given one
// after --, else Sleep.
func (c config) work() Work {
	if c.command == nil {
		return Sleep
	}
	return c.command.Work
}
