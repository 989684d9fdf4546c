package journal

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestGroupCommitSharesOneFsync(t *testing.T) {
	// The first Append holds the writer in its fsync; 63 more queue up
	// meanwhile and must all be written by the next single write and fsync.
	const n = 64
	ff := &faultyFile{syncing: make(chan struct{}), release: make(chan struct{})}
	enq := make(chan struct{}, n)
	o := withFaulty(Options{}, ff)
	o.enqueued = func() { enq <- struct{}{} }
	j := openT(t, t.TempDir(), o)
	done := make(chan error, n)
	go func() { done <- j.Append(rec(1)) }()
	<-ff.syncing // segment header fsync, at roll
	ff.release <- struct{}{}
	<-ff.syncing // the first batch's fsync
	for i := 2; i <= n; i++ {
		go func() { done <- j.Append(rec(i)) }()
	}
	for range n {
		<-enq
	}
	select {
	case err := <-done:
		t.Fatalf("an Append returned (%v) before its fsync", err)
	default:
	}
	ff.release <- struct{}{} // the first batch is durable
	if err := <-done; err != nil {
		t.Fatalf("first Append = %v", err)
	}
	<-ff.syncing // the second batch: everyone else
	select {
	case err := <-done:
		t.Fatalf("an Append returned (%v) before its fsync", err)
	default:
	}
	ff.release <- struct{}{}
	for i := 2; i <= n; i++ {
		if err := <-done; err != nil {
			t.Errorf("Append = %v", err)
		}
	}
	if got, want := ff.syncs.Load(), int64(3); got != want {
		t.Errorf("fsyncs = %d, want %d (header, first batch, one for the other %d)", got, want, n-1)
	}
	if got, want := ff.writes.Load(), int64(3); got != want {
		t.Errorf("writes = %d, want %d", got, want)
	}
	ff.syncing = nil
}

func TestGroupCommitUnderLoad(t *testing.T) {
	const goroutines, each = 64, 100
	var fsyncs atomic.Int64
	j := openT(t, t.TempDir(), Options{OnFsync: func(time.Duration) { fsyncs.Add(1) }})
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if err := j.Append(rec(g*each + i + 1)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Append = %v", err)
	}
	n := fsyncs.Load()
	t.Logf("%d appends, %d fsyncs: %.1f appends per fsync", goroutines*each, n, float64(goroutines*each)/float64(n))
	if n*4 > goroutines*each {
		t.Errorf("fsyncs = %d for %d appends, want at most a quarter", n, goroutines*each)
	}
}

func TestWriteFailure(t *testing.T) {
	ff := &faultyFile{}
	var logs logBuffer
	j := openT(t, t.TempDir(), withFaulty(Options{Logger: logs.logger()}, ff))
	if err := j.Append(rec(1)); err != nil {
		t.Fatalf("Append = %v", err)
	}
	ff.failWrite.Store(true)
	err := j.Append(rec(2))
	if !errors.Is(err, ErrFailed) || !errors.Is(err, errInjected) {
		t.Fatalf("Append with a failing write = %v, want ErrFailed wrapping the write error", err)
	}
	checkFailed(t, j, ff, &logs)
}

// TestShortWriteCut fails a write after it put half of one Append's records
// on disk, the first of them whole: the next Open must find none of them,
// since their caller was told they failed.
func TestShortWriteCut(t *testing.T) {
	ff := &faultyFile{}
	dir := t.TempDir()
	j := openT(t, dir, withFaulty(Options{}, ff))
	if err := j.Append(rec(1)); err != nil {
		t.Fatalf("Append = %v", err)
	}
	ff.shortWrite.Store(true)
	if err := j.Append(rec(2), rec(3), rec(4)); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append with a short write = %v, want ErrFailed", err)
	}
	j.Close()
	j = openT(t, dir, Options{})
	defer j.Close()
	if got, want := replayAll(t, j), []Record{rec(1)}; !equalRecords(got, want) {
		t.Errorf("Replay after a short write = %d records %v, want only the one whose Append succeeded", len(got), got)
	}
}

func TestSyncFailureFailsWholeBatch(t *testing.T) {
	const n = 10
	ff := &faultyFile{syncing: make(chan struct{}), release: make(chan struct{})}
	enq := make(chan struct{}, n+1)
	var logs logBuffer
	o := withFaulty(Options{Logger: logs.logger()}, ff)
	o.enqueued = func() { enq <- struct{}{} }
	j := openT(t, t.TempDir(), o)
	done := make(chan error, n+1)
	go func() { done <- j.Append(rec(1)) }()
	<-ff.syncing // header
	ff.release <- struct{}{}
	<-ff.syncing // first batch
	for i := 2; i <= n+1; i++ {
		go func() { done <- j.Append(rec(i)) }()
	}
	for range n + 1 {
		<-enq
	}
	ff.release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatalf("first Append = %v", err)
	}
	<-ff.syncing // the batch of n
	ff.failSync.Store(true)
	ff.release <- struct{}{}
	for range n {
		if err := <-done; !errors.Is(err, ErrFailed) || !errors.Is(err, errInjected) {
			t.Errorf("Append in the failed batch = %v, want ErrFailed wrapping the fsync error", err)
		}
	}
	ff.syncing = nil
	checkFailed(t, j, ff, &logs)
}

// checkFailed checks the failed state: Err set, one error counted and
// logged, later Appends refused without a write or an fsync, and no fsync
// retried, not even by Close.
func checkFailed(t *testing.T, j *Journal, ff *faultyFile, logs *logBuffer) {
	t.Helper()
	if err := j.Err(); !errors.Is(err, ErrFailed) {
		t.Errorf("Err = %v, want ErrFailed", err)
	}
	if got := j.Errors(); got != 1 {
		t.Errorf("Errors = %d, want 1", got)
	}
	writes, syncs := ff.writes.Load(), ff.syncs.Load()
	for i := range 5 {
		if err := j.Append(rec(100 + i)); !errors.Is(err, ErrFailed) {
			t.Errorf("Append after failure = %v, want ErrFailed", err)
		}
		if err := j.AppendAsync(rec(200 + i)); !errors.Is(err, ErrFailed) {
			t.Errorf("AppendAsync after failure = %v, want ErrFailed", err)
		}
	}
	if err := j.Close(); !errors.Is(err, ErrFailed) {
		t.Errorf("Close = %v, want ErrFailed", err)
	}
	if w, s := ff.writes.Load(), ff.syncs.Load(); w != writes || s != syncs {
		t.Errorf("after failure: writes %d→%d, fsyncs %d→%d; want none", writes, w, syncs, s)
	}
	if got := strings.Count(logs.String(), "journal failed"); got != 1 {
		t.Errorf("logged the failure %d times, want once; logs:\n%s", got, logs.String())
	}
}

func TestSyncEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fsyncs atomic.Int64
		j, err := Open(t.TempDir(), Options{Sync: SyncEvery(50 * time.Millisecond), OnFsync: func(time.Duration) { fsyncs.Add(1) }})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		if err := j.Append(rec(1)); err != nil {
			t.Fatal(err)
		}
		if got := fsyncs.Load(); got != 0 {
			t.Errorf("fsyncs right after Append = %d, want 0", got)
		}
		time.Sleep(60 * time.Millisecond)
		synctest.Wait()
		if got := fsyncs.Load(); got != 1 {
			t.Errorf("fsyncs after 60ms = %d, want 1", got)
		}
		time.Sleep(200 * time.Millisecond)
		synctest.Wait()
		if got := fsyncs.Load(); got != 1 {
			t.Errorf("fsyncs with nothing new written = %d, want still 1", got)
		}
	})
}
