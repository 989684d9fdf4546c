package lines

import (
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"workqueue/internal/testutil"
)

// TestLogNeverBlocks checks that with standard error stuck, Write
// returns at once, drops what does not fit and counts it, and Close gives up
// after its timeout.
func TestLogNeverBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := testutil.NewBlockingWriter()
		l := NewLog(w, 2, new(atomic.Int64))
		l.Write([]byte("one\n"))
		synctest.Wait() // the writing goroutine is stuck on "one"
		for _, line := range []string{"two\n", "three\n", "four\n", "five\n"} {
			if n, err := l.Write([]byte(line)); n != len(line) || err != nil {
				t.Errorf("Write(%q) = %d, %v; want %d, nil", line, n, err, len(line))
			}
		}
		if got := l.Dropped(); got != 2 {
			t.Errorf("Dropped = %d, want 2: two lines did not fit behind the stuck one", got)
		}
		start := time.Now()
		if l.Close(500 * time.Millisecond) {
			t.Error("Close with standard error stuck = true, want false")
		}
		if took := time.Since(start); took != 500*time.Millisecond {
			t.Errorf("Close took %v, want its timeout, 500ms", took)
		}
		l.Write([]byte("after close\n"))
		if got := l.Dropped(); got != 3 {
			t.Errorf("Dropped after a Write past Close = %d, want 3", got)
		}
		for range 3 { // one, then the two waiting lines: the goroutine drains and exits
			w.Release <- nil
		}
		synctest.Wait()
		if got, want := strings.Join(w.Written(), ""), "one\ntwo\nthree\n"; got != want {
			t.Errorf("written %q, want %q", got, want)
		}
	})
}

// TestLogFlushesAtClose checks Close writes every waiting line, in
// order, when standard error takes them.
func TestLogFlushesAtClose(t *testing.T) {
	var out testutil.SyncBuffer
	l := NewLog(&out, 100, new(atomic.Int64))
	var want strings.Builder
	for i := range 50 {
		line := strings.Repeat("x", i) + "\n"
		l.Write([]byte(line))
		want.WriteString(line)
	}
	if !l.Close(10 * time.Second) {
		t.Fatal("Close = false, want true: standard error takes every line")
	}
	if out.String() != want.String() || l.Dropped() != 0 {
		t.Errorf("written %q, dropped %d; want every line in order, none dropped", out.String(), l.Dropped())
	}
}
