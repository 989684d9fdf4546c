package lines

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// errOutputClosed is what Write returns once the Writer is closed.
var errOutputClosed = errors.New("standard output is closed: the server is stopping")

// Writer writes the workers' greetings to standard output by group
// commit, led by the writers themselves: a worker that finds no write in
// progress becomes the leader and writes its line at once; lines that come
// while it writes wait together in the next batch, which the leader writes
// with one Write call when its own is done, then tells each waiting worker
// the result. Under load a batch holds many lines, so it is one system call
// per batch, not per job; with no load a line is written at once, with no
// goroutine hand-off (a flusher goroutine would cost two per job).
//
// No lock is held during a write, so a standard output that blocks (a full
// pipe nobody reads) or fails (a reader that went away) stalls or fails only
// the workers writing to it, never the API. A worker waiting in a batch
// stops waiting when its context ends; the leader, inside write(2), cannot,
// and whoever waits for it (the drain) must bound that wait.
//
// Memory is bounded: each worker waits for its line before writing another,
// so a batch holds at most one line per worker.
type Writer struct {
	w   io.Writer // standard output; written only by the leader
	log *slog.Logger

	mu      sync.Mutex    // guards the fields below
	writing bool          // a leader is writing
	next    *batch        // lines waiting for the leader; nil if none, always nil if not writing
	spare   []byte        // a written batch's buffer, for the next batch
	closed  bool          // Close was called: Write refuses, and the leader writes no more batches
	idle    chan struct{} // if not nil, closed by the leader when it stops writing; made by Close
	lastErr string        // the text of the last write error logged
}

// batch is lines written together, and the result of writing them.
type batch struct {
	buf  []byte
	done chan struct{} // closed by the leader once buf is written, or refused after Close
	err  error         // the write's error, nil if it succeeded; set before done is closed
}

// NewWriter returns a Writer that writes to w, logging failures to log.
func NewWriter(w io.Writer, log *slog.Logger) *Writer {
	return &Writer{w: w, log: log}
}

// Write writes p, which must be one or more whole lines, and returns the
// write's error; or, while waiting for another worker's write, returns
// context.Cause(ctx) if ctx ends first (its line is then written only if the
// writer is not closed meanwhile); or errOutputClosed after Close. Lines
// never interleave.
func (l *Writer) Write(ctx context.Context, p []byte) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errOutputClosed
	}
	if !l.writing {
		l.writing = true
		l.mu.Unlock()
		err := l.write(p)
		l.lead()
		return err
	}
	b := l.next
	if b == nil {
		b = &batch{buf: l.spare[:0], done: make(chan struct{})}
		l.spare = nil
		l.next = b
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

// lead writes the batches that gathered while the leader wrote, until none
// is left, then stops leading. After Close it refuses them unwritten: the
// workers that waited have stopped waiting (a drain gave up on them).
func (l *Writer) lead() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.next != nil {
		b := l.next
		l.next = nil
		if l.closed {
			b.err = errOutputClosed
		} else {
			l.mu.Unlock()
			b.err = l.write(b.buf)
			l.mu.Lock()
		}
		close(b.done)
		if cap(b.buf) <= outputSpareMax {
			l.spare = b.buf
		}
	}
	l.writing = false
	if l.idle != nil {
		close(l.idle)
		l.idle = nil
	}
}

// outputSpareMax is the largest batch buffer, in bytes, kept for reuse.
const outputSpareMax = 64 << 10

// write writes p to standard output and returns the error, if any. It logs
// an error only when it differs from the last one logged, so a reader that
// went away (a broken pipe) is logged once, not once a job.
func (l *Writer) write(p []byte) error {
	_, err := l.w.Write(p)
	if err == nil {
		return nil
	}
	l.mu.Lock()
	repeated := err.Error() == l.lastErr
	l.lastErr = err.Error()
	l.mu.Unlock()
	if !repeated {
		l.log.Error("cannot write to standard output; jobs whose greeting cannot be written fail",
			"err", err, "bytes", len(p))
	}
	return fmt.Errorf("cannot write greeting to standard output: %w", err)
}

// Close makes later Writes fail with errOutputClosed and waits up to
// timeout for a write in progress to end; lines still waiting for it are
// refused, not written. It returns an error if a write is still stuck at the
// timeout: the caller is then free to exit without it. Close may be called
// more than once.
func (l *Writer) Close(timeout time.Duration) error {
	l.mu.Lock()
	l.closed = true
	if !l.writing {
		l.mu.Unlock()
		return nil
	}
	if l.idle == nil {
		l.idle = make(chan struct{})
	}
	idle := l.idle
	l.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-idle:
		return nil
	case <-t.C:
		return fmt.Errorf("standard output still blocked after %v: greetings may be lost", timeout)
	}
}
