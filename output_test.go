package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// blockingWriter is an io.Writer the test controls: each Write records its
// bytes, then waits until the test sends the error it is to return on
// release.
type blockingWriter struct {
	mu      sync.Mutex // guards writes
	writes  []string
	release chan error
}

func newBlockingWriter() *blockingWriter {
	return &blockingWriter{release: make(chan error)}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, string(p))
	w.mu.Unlock()
	if err := <-w.release; err != nil {
		return 0, err
	}
	return len(p), nil
}

// written returns the Writes so far, each as one string.
func (w *blockingWriter) written() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes)
}

// TestLineWriterGroupCommit checks that lines arriving while a write is in
// progress wait for it outside any lock and are then written together in one
// Write, each writer learning its batch's result.
func TestLineWriterGroupCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newBlockingWriter()
		l := newLineWriter(w, slog.New(slog.DiscardHandler))
		type result struct {
			line string
			err  error
		}
		results := make(chan result, 3)
		for _, line := range []string{"a\n", "b\n", "c\n"} {
			go func() { results <- result{line, l.Write(t.Context(), []byte(line))} }()
			synctest.Wait() // the first writer leads, stuck writing its line; the others wait
		}
		w.release <- nil // the write of "a\n"
		synctest.Wait()
		if got := w.written(); len(got) != 2 || got[0] != "a\n" || got[1] != "b\nc\n" {
			t.Fatalf("writes = %q, want [a\\n b\\nc\\n]: the lines that waited go in one write", got)
		}
		w.release <- syscall.EPIPE // the write of "b\nc\n"
		got := map[string]error{}
		for range 3 {
			r := <-results
			got[r.line] = r.err
		}
		if got["a\n"] != nil || !errors.Is(got["b\n"], syscall.EPIPE) || !errors.Is(got["c\n"], syscall.EPIPE) {
			t.Errorf("Write errors = %v, want a: nil, b and c: EPIPE: each writer learns its batch's result", got)
		}
		if err := l.Close(time.Second); err != nil {
			t.Errorf("Close = %v, want nil", err)
		}
		if err := l.Write(t.Context(), []byte("late\n")); !errors.Is(err, errOutputClosed) {
			t.Errorf("Write after Close = %v, want errOutputClosed", err)
		}
	})
}

// TestLineWriterStuck checks that a write stuck forever holds up neither a
// writer whose context ends nor Close beyond its timeout, and that lines
// still waiting at Close are refused, not written.
func TestLineWriterStuck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newBlockingWriter()
		l := newLineWriter(w, slog.New(slog.DiscardHandler))
		first := make(chan error, 1)
		go func() { first <- l.Write(t.Context(), []byte("stuck\n")) }()
		synctest.Wait()

		abandoned := errors.New("abandoned")
		ctx, cancel := context.WithCancelCause(t.Context())
		second := make(chan error, 1)
		go func() { second <- l.Write(ctx, []byte("waiting\n")) }()
		synctest.Wait()
		cancel(abandoned)
		if err := <-second; !errors.Is(err, abandoned) {
			t.Errorf("Write whose context ended = %v, want its cause %v", err, abandoned)
		}

		start := time.Now()
		if err := l.Close(250 * time.Millisecond); err == nil {
			t.Error("Close with the flusher stuck in a write = nil, want an error")
		}
		if took := time.Since(start); took != 250*time.Millisecond {
			t.Errorf("Close took %v, want its timeout, 250ms", took)
		}
		w.release <- nil // the stuck write ends
		if err := <-first; err != nil {
			t.Errorf("first Write = %v, want nil", err)
		}
		if got := w.written(); len(got) != 1 {
			t.Errorf("writes = %q, want only the first: the line waiting at Close is refused", got)
		}
	})
}

// TestLineWriterLogsFailureOnce checks a reader that went away is logged
// once, not once a line, while every Write still returns the error.
func TestLineWriterLogsFailureOnce(t *testing.T) {
	var logs syncBuffer
	l := newLineWriter(failingWriter{syscall.EPIPE}, slog.New(slog.NewTextHandler(&logs, nil)))
	for i := range 5 {
		if err := l.Write(t.Context(), []byte("line\n")); !errors.Is(err, syscall.EPIPE) {
			t.Errorf("Write %d = %v, want EPIPE", i, err)
		}
	}
	if err := l.Close(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "cannot write to standard output"); n != 1 {
		t.Errorf("logged the failure %d times, want once:\n%s", n, logs.String())
	}
}

// failingWriter fails every Write with err.
type failingWriter struct{ err error }

func (w failingWriter) Write(p []byte) (int, error) { return 0, w.err }

var _ io.Writer = failingWriter{}
