package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// errOutputClosed is what Write returns once the lineWriter is closed.
var errOutputClosed = errors.New("standard output is closed: the server is stopping")

// lineWriter is the only writer of the workers' greetings to standard
// output. It writes by group commit: one goroutine, the flusher, takes every
// line waiting, writes them all with one Write call, then tells each worker
// that waits on that batch the result. A write to standard output is a
// system call that costs more than the rest of a no-op job; under load a
// batch holds many lines, so it is one call per batch, not per job.
//
// No lock is held during the write, so a standard output that blocks (a full
// pipe nobody reads) or fails (a reader that exited) stalls or fails only
// the workers waiting on that batch, never the API; and a waiting worker can
// stop waiting when its context ends.
//
// Memory is bounded: each worker waits for its line before writing another,
// so a batch holds at most one line per worker.
type lineWriter struct {
	w   io.Writer // standard output; written by the flusher only
	log *slog.Logger

	mu      sync.Mutex // guards pending, spare and closed
	pending *batch     // lines waiting for the flusher; nil if none
	spare   []byte     // a written batch's buffer, for the next batch
	closed  bool       // Close was called: Write refuses

	wake   chan struct{} // capacity 1: a batch is pending; never closed
	quit   chan struct{} // closed by Close: write what is pending and exit
	exited chan struct{} // closed by the flusher when it returns
}

// batch is lines written together, and the result of writing them.
type batch struct {
	buf  []byte
	done chan struct{} // closed by the flusher once buf is written
	err  error         // the write's error, nil if it succeeded; set before done is closed
}

// newLineWriter returns a lineWriter that writes to w, logging failures to
// log, and starts its flusher. Close stops it.
func newLineWriter(w io.Writer, log *slog.Logger) *lineWriter {
	l := &lineWriter{
		w:      w,
		log:    log,
		wake:   make(chan struct{}, 1),
		quit:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	go l.flush()
	return l
}

// Write writes p, which must be one or more whole lines, as part of the
// next batch, and waits until that batch is written. It returns the write's
// error; context.Cause(ctx) if ctx ends first (the line may still be
// written later); or errOutputClosed after Close. Lines never interleave.
func (l *lineWriter) Write(ctx context.Context, p []byte) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errOutputClosed
	}
	b := l.pending
	if b == nil {
		b = &batch{buf: l.spare[:0], done: make(chan struct{})}
		l.spare = nil
		l.pending = b
		select {
		case l.wake <- struct{}{}:
		default: // the flusher is already woken
		}
	}
	b.buf = append(b.buf, p...)
	l.mu.Unlock()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// flush is the flusher: it writes each pending batch until Close.
func (l *lineWriter) flush() {
	defer close(l.exited)
	var lastErr string // the text of the last write error logged
	for {
		select {
		case <-l.wake:
			l.writePending(&lastErr)
		case <-l.quit:
			l.writePending(&lastErr)
			return
		}
	}
}

// writePending writes the pending batch, if any, and answers its waiters.
// It logs a write error only when it differs from the last one logged, so a
// reader that went away (a broken pipe) is logged once, not once a job.
func (l *lineWriter) writePending(lastErr *string) {
	l.mu.Lock()
	b := l.pending
	l.pending = nil
	l.mu.Unlock()
	if b == nil {
		return
	}
	if _, err := l.w.Write(b.buf); err != nil {
		b.err = fmt.Errorf("cannot write greeting to standard output: %w", err)
		if err.Error() != *lastErr {
			*lastErr = err.Error()
			l.log.Error("cannot write to standard output; jobs whose greeting cannot be written fail",
				"err", err, "bytes", len(b.buf))
		}
	}
	close(b.done)
	if cap(b.buf) <= outputSpareMax {
		l.mu.Lock()
		l.spare = b.buf
		l.mu.Unlock()
	}
}

// outputSpareMax is the largest batch buffer, in bytes, kept for reuse.
const outputSpareMax = 64 << 10

// Close makes later Writes fail with errOutputClosed, has the flusher write
// what is pending, and waits up to timeout for it to finish. It returns an
// error if the flusher is still stuck in a write at the timeout: the caller
// is then free to exit without it. Close may be called more than once.
func (l *lineWriter) Close(timeout time.Duration) error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.quit)
	}
	l.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-l.exited:
		return nil
	case <-t.C:
		return fmt.Errorf("standard output still blocked after %v: greetings may be lost", timeout)
	}
}
