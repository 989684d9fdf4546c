package lines

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"workqueue/internal/testutil"
)

// TestWriterGroupCommit checks that lines arriving while a write is in
// progress wait for it outside any lock and are then written together in one
// Write, each writer learning its batch's result.
func TestWriterGroupCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := testutil.NewBlockingWriter()
		l := NewWriter(w, slog.New(slog.DiscardHandler))
		type result struct {
			line string
			err  error
		}
		results := make(chan result, 3)
		for _, line := range []string{"a\n", "b\n", "c\n"} {
			go func() { results <- result{line, l.Write(t.Context(), []byte(line))} }()
			synctest.Wait() // the first writer leads, stuck writing its line; the others wait
		}
		w.Release <- nil // the write of "a\n"
		synctest.Wait()
		if got := w.Written(); len(got) != 2 || got[0] != "a\n" || got[1] != "b\nc\n" {
			t.Fatalf("writes = %q, want [a\\n b\\nc\\n]: the lines that waited go in one write", got)
		}
		w.Release <- syscall.EPIPE // the write of "b\nc\n"
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

// TestWriterStuck checks that a write stuck forever holds up neither a
// writer whose context ends nor Close beyond its timeout, and that lines
// still waiting at Close are refused, not written.
func TestWriterStuck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := testutil.NewBlockingWriter()
		l := NewWriter(w, slog.New(slog.DiscardHandler))
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
		w.Release <- nil // the stuck write ends
		if err := <-first; err != nil {
			t.Errorf("first Write = %v, want nil", err)
		}
		if got := w.Written(); len(got) != 1 {
			t.Errorf("writes = %q, want only the first: the line waiting at Close is refused", got)
		}
	})
}

// TestWriterLogsFailureOnce checks a reader that went away is logged
// once, not once a line, while every Write still returns the error.
func TestWriterLogsFailureOnce(t *testing.T) {
	var logs testutil.SyncBuffer
	l := NewWriter(testutil.FailingWriter{Err: syscall.EPIPE}, slog.New(slog.NewTextHandler(&logs, nil)))
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
