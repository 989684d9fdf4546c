package main

import (
	"io"
	"log/slog"
	"sync"
	"time"
)

// Batching of the workers' output.
const (
	outputDelay = 10 * time.Millisecond // longest a line waits in the buffer
	outputSize  = 64 << 10              // largest batch written at once
)

// lineWriter buffers the workers' greetings on their way to standard output
// and writes them in batches: at most outputDelay after the first line of a
// batch, or as soon as outputSize bytes are waiting, and at Close. A write to
// standard output is a system call that costs more than the rest of a no-op
// job; batching makes it one call per batch instead of one per job.
//
// Each Write is one whole line, so lines never interleave.
type lineWriter struct {
	mu    sync.Mutex // guards the fields below
	w     io.Writer  // standard output
	buf   []byte     // lines not yet written
	timer *time.Timer
	armed bool // timer will flush buf
	log   *slog.Logger
}

// newLineWriter returns a lineWriter that writes to w, logging failures.
func newLineWriter(w io.Writer, log *slog.Logger) *lineWriter {
	l := &lineWriter{w: w, buf: make([]byte, 0, outputSize), log: log}
	l.timer = time.AfterFunc(time.Hour, l.Flush)
	l.timer.Stop()
	return l
}

// Write buffers p, which must be one or more whole lines.
func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf)+len(p) > outputSize {
		l.flushLocked()
	}
	l.buf = append(l.buf, p...)
	if !l.armed {
		l.armed = true
		l.timer.Reset(outputDelay)
	}
	return len(p), nil
}

// Flush writes the buffered lines.
func (l *lineWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

// Close writes the buffered lines and stops the timer. Later Writes are
// still accepted and flushed on the next Close or Flush.
func (l *lineWriter) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer.Stop()
	l.armed = false
	l.flushLocked()
}

func (l *lineWriter) flushLocked() {
	l.armed = false
	if len(l.buf) == 0 {
		return
	}
	if _, err := l.w.Write(l.buf); err != nil {
		l.log.Error("cannot write to standard output", "err", err, "bytes", len(l.buf))
	}
	l.buf = l.buf[:0]
}
