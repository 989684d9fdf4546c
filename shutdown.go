package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// signalError is why the server stops: it got a signal.
type signalError struct{ sig os.Signal }

func (e *signalError) Error() string { return "signal " + e.sig.String() }

// watchSignals returns two contexts: stop, canceled by the first signal on
// signals or when ctx ends, and force, canceled by the signal after that.
// Every phase of the process (start-up, serving, the drain, closing
// connections) watches one of them. unwatch ends the watching goroutine and
// waits for it.
func watchSignals(ctx context.Context, signals <-chan os.Signal) (stop, force context.Context, unwatch func()) {
	stop, stopCancel := context.WithCancelCause(context.Background())
	force, forceCancel := context.WithCancelCause(context.Background())
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case sig := <-signals:
			stopCancel(&signalError{sig})
		case <-ctx.Done():
			stopCancel(context.Cause(ctx))
		case <-quit:
			return
		}
		select {
		case sig := <-signals:
			forceCancel(fmt.Errorf("second signal %s", sig))
		case <-quit:
		}
	})
	return stop, force, func() {
		close(quit)
		wg.Wait()
		stopCancel(nil)
		forceCancel(nil)
	}
}

// shutdown drains s while hs keeps answering, then closes hs gracefully.
// The drain gives up when timeout passes or force ends (a second signal),
// closing hs at once, and returns an *abandonedError. Connections still open
// once every job has run (idle, or a client that sent half a request) are
// closed when timeout passes, and that is no error: exit 1 means the drain
// did not complete. Only force ending then, a second signal, is an error.
func shutdown(s *server, hs *http.Server, timeout time.Duration, force context.Context, log *slog.Logger) error {
	ctx, cancel := context.WithTimeoutCause(force, timeout,
		fmt.Errorf("-shutdown-timeout %s exceeded", timeout))
	defer cancel()
	if err := s.drain(ctx); err != nil {
		var ab *abandonedError
		errors.As(err, &ab)
		if s.journal != nil {
			log.Error("drain abandoned; the unfinished jobs stay in the journal and run at the next start",
				"abandoned", ab.jobs, "ids", strings.Join(ab.ids, ","), "more", ab.more, "reason", ab.why, "journal", s.journal.Dir())
		} else {
			log.Error("drain abandoned", "abandoned", ab.jobs, "ids", strings.Join(ab.ids, ","), "more", ab.more, "reason", ab.why)
		}
		hs.Close()
		return err
	}
	log.Info("drained", "done", s.stats.Done.Load(), "canceled", s.stats.Canceled.Load(), "failed", s.stats.Failed.Load())
	if err := hs.Shutdown(ctx); err != nil {
		hs.Close()
		if force.Err() != nil {
			return fmt.Errorf("closing connections cut short: %w", context.Cause(force))
		}
		log.Info("closed connections still open at -shutdown-timeout", "reason", context.Cause(ctx))
	}
	return nil
}
