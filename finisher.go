package main

import (
	"errors"
	"time"

	"workqueue/internal/jobjournal"
)

// finishBatch is the most completions the finisher writes with one write.
const finishBatch = 1024

// finisher completes the jobs of a server with -journal, so that no worker
// waits for the disk. A job's greeting may be written only once its start
// is durable (a crash that repeats a greeting must find attempts saying
// so), and it is journaled as finished only after its greeting is written.
// A worker that waited for both would run a job per fsync; instead it hands
// the completed job to the finisher and takes its next one. The finisher
// takes every completion waiting, waits until their starts are durable
// (usually they are), writes their lines with one write, and settles each:
// done, or failed with the write's error.
type finisher struct {
	c    chan completion // completed jobs; closed by the server once its workers have exited
	done chan struct{}   // closed when run returns
}

// completion is a job whose work is complete, on its way to done.
type completion struct {
	w       *Worker // the worker that ran it
	r       *WorkRequest
	started time.Time
	line    []byte       // its greeting
	ack     <-chan error // answers once its start is durable
}

// newFinisher returns a finisher that holds up to queue completions before a
// worker handing one over waits.
func newFinisher(queue int) *finisher {
	return &finisher{c: make(chan completion, queue), done: make(chan struct{})}
}

// run completes jobs until f.c is closed and empty.
func (f *finisher) run(env *workerEnv) {
	defer close(f.done)
	var batch []completion
	var buf []byte
	for c := range f.c {
		batch = append(batch[:0], c)
	more:
		for len(batch) < finishBatch {
			select {
			case c, ok := <-f.c:
				if !ok {
					break more
				}
				batch = append(batch, c)
			default:
				break more
			}
		}
		buf = buf[:0]
		for _, c := range batch {
			jobjournal.Durable(c.ack)
			buf = append(buf, c.line...)
		}
		err := env.out.Write(env.ctx, buf)
		for _, c := range batch {
			c.w.settle(c.r, c.started, err, errors.Is(err, errAbandoned))
		}
	}
}

// handOver gives the finisher r, whose work w completed, with its greeting.
// It waits while the finisher is full, unless the server abandons its jobs:
// then r fails as abandoned.
func (w *Worker) handOver(f *finisher, r *WorkRequest, started time.Time, ack <-chan error) {
	c := completion{w: w, r: r, started: started, line: appendGreeting(nil, r, w.ID), ack: ack}
	select {
	case f.c <- c:
	case <-w.env.ctx.Done():
		w.settle(r, started, errAbandoned, false)
	}
}
