package lines

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Log carries log lines to standard error without ever making the
// writer wait: Write copies the line onto a buffered channel and returns at
// once, and one goroutine writes the lines in order. When standard error
// falls behind (nobody reads it) and the channel is full, Write drops the
// line and counts it, so a request or the drain never waits on its log line.
//
// Each Write must be one whole line or more, as slog's handlers write.
type Log struct {
	w       io.Writer     // standard error; written by the writing goroutine only
	lines   chan []byte   // lines waiting; never closed, so a late Write cannot panic
	dropped *atomic.Int64 // lines dropped because lines was full or Close had begun; the caller's
	quit    chan struct{} // closed by Close: write what is waiting and exit
	exited  chan struct{} // closed by the writing goroutine when it returns
	once    sync.Once     // closes quit
}

// NewLog returns a Log to w holding up to capacity lines, and starts its
// writing goroutine; Close stops it. The Log adds each line it drops to
// dropped, which must not be nil: the caller's counter, read where it likes.
func NewLog(w io.Writer, capacity int, dropped *atomic.Int64) *Log {
	l := &Log{
		w:       w,
		lines:   make(chan []byte, capacity),
		dropped: dropped,
		quit:    make(chan struct{}),
		exited:  make(chan struct{}),
	}
	go l.run()
	return l
}

// Write queues a copy of p and returns at once. It never fails: a line that
// finds the queue full, or comes after Close, is dropped and counted.
func (l *Log) Write(p []byte) (int, error) {
	select {
	case <-l.quit:
		l.dropped.Add(1)
		return len(p), nil
	default:
	}
	select {
	case l.lines <- append([]byte(nil), p...):
	default:
		l.dropped.Add(1)
	}
	return len(p), nil
}

// Dropped returns how many lines were dropped: the count in NewLog's dropped.
func (l *Log) Dropped() int64 { return l.dropped.Load() }

// run writes lines until Close, then writes those still waiting. Errors are
// ignored: there is nowhere left to report them.
func (l *Log) run() {
	defer close(l.exited)
	for {
		select {
		case line := <-l.lines:
			l.w.Write(line)
		case <-l.quit:
			for {
				select {
				case line := <-l.lines:
					l.w.Write(line)
				default:
					return
				}
			}
		}
	}
}

// Close stops taking lines and waits up to timeout for those waiting to be
// written. It reports whether they all were; if not, the writing goroutine
// is stuck in a write and the caller is free to exit without it.
func (l *Log) Close(timeout time.Duration) bool {
	l.once.Do(func() { close(l.quit) })
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-l.exited:
		return true
	case <-t.C:
		return false
	}
}
