// Package signals turns the process's signals into the two stages of a
// graceful stop: the first signal starts the drain, the second cuts it
// short.
package signals

import (
	"context"
	"fmt"
	"os"
	"sync"
)

// Error is why the server stops: it got the signal Sig.
type Error struct{ Sig os.Signal }

// Error returns "signal " and the signal's name.
func (e *Error) Error() string { return "signal " + e.Sig.String() }

// Watch returns two contexts: stop, canceled by the first signal on
// signals (with an *Error) or when ctx ends, and force, canceled by the
// signal after that.
// Every phase of the process (start-up, serving, the drain, closing
// connections) watches one of them. unwatch ends the watching goroutine and
// waits for it.
func Watch(ctx context.Context, signals <-chan os.Signal) (stop, force context.Context, unwatch func()) {
	stop, stopCancel := context.WithCancelCause(context.Background())
	force, forceCancel := context.WithCancelCause(context.Background())
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case sig := <-signals:
			stopCancel(&Error{Sig: sig})
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
