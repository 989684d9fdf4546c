package main

import (
	"context"
	"strconv"
	"time"

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
