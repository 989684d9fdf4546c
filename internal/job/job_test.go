package job

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStartAndCancelStopWaitingOnce races a start and a cancel for each of
// many queued jobs counted as waiting: exactly one of them wins each job,
// and the count of waiting jobs ends at zero, taken away once a job.
func TestStartAndCancelStopWaitingOnce(t *testing.T) {
	const n = 1000
	var waiting atomic.Int64
	started, canceled := 0, 0
	for i := range n {
		j := New("1", uint64(i+1), "x", 0, "", time.Now(), Policy{})
		waiting.Add(1)
		if !j.Enter(&waiting) {
			t.Fatal("Enter of a queued job = false")
		}
		var s, c bool
		var wg sync.WaitGroup
		wg.Go(func() { s = j.Start(1, time.Now(), func() {}) })
		wg.Go(func() { _, c = j.Cancel(time.Now()) })
		wg.Wait()
		if s {
			started++
		}
		if c {
			canceled++
		}
		if j.WaitsIn(&waiting) {
			t.Fatalf("job %d still counted as waiting after its start and cancel", i+1)
		}
	}
	if w := waiting.Load(); w != 0 {
		t.Errorf("waiting = %d after every job started or was canceled, want 0", w)
	}
	if started+canceled < n {
		t.Errorf("%d started and %d canceled of %d jobs: a job neither started nor was canceled", started, canceled, n)
	}
}

// TestTransitionsRefuseAJobThatMovedOn checks that each transition reports
// false, and changes nothing, for a job no longer in the state it needs.
func TestTransitionsRefuseAJobThatMovedOn(t *testing.T) {
	now := time.Now()
	j := New("1", 1, "x", 0, "", now, Policy{})
	if j.Finish(Done, now, "") || j.Complete() || j.Requeue(now, "e") {
		t.Error("a queued job was finished, completed or requeued")
	}
	j.Start(1, now, func() {})
	if j.AbandonRetry(now, false) {
		t.Error("a running job had its retry abandoned")
	}
	if !j.Complete() {
		t.Fatal("Complete of a running job = false")
	}
	if _, ok := j.Cancel(now); ok {
		t.Error("a job whose greeting is being written was canceled")
	}
	if !j.Finish(Done, now, "") {
		t.Fatal("Finish of a completing job = false")
	}
	if j.Start(1, now, func() {}) || j.Finish(Failed, now, "x") {
		t.Error("a done job was started or finished again")
	}
	select {
	case <-j.Final():
	default:
		t.Error("Final of a done job is not closed")
	}
	if st := j.Status(); st.State != Done || st.Attempts != 1 || st.Err != "" {
		t.Errorf("status %+v, want done after 1 attempt with no error", st)
	}
}

// TestRetry checks Retry moves only a failed or canceled job back to
// queued, its attempts kept and its retries counted anew.
func TestRetry(t *testing.T) {
	now := time.Now()
	j := New("1", 1, "x", 0, "", now, Policy{})
	if _, ok := j.Retry(); ok {
		t.Fatal("Retry of a queued job: ok")
	}
	j.Start(1, now, nil)
	j.Finish(Failed, now, "exit status 3")
	final := j.Final()
	if _, ok := j.Retry(); ok {
		t.Fatal("Retry of a failed job whose finish is not yet settled: ok")
	}
	j.Settled()
	if prev, ok := j.Retry(); !ok || prev != Failed {
		t.Fatalf("Retry of a failed job: %v %v", prev, ok)
	}
	<-final // the old waiter was told of the old final state
	st := j.Status()
	if st.State != Queued || st.Err != "" || st.FinishedAt != 0 || st.Attempts != 1 || j.RetriesUsed() != 0 {
		t.Errorf("after Retry: %+v, retries used %d; want queued, no error, 1 attempt, 0 used", st, j.RetriesUsed())
	}
	select {
	case <-j.Final():
		t.Error("Final of the retried job is closed")
	default:
	}
	j.Start(1, now, nil)
	j.Finish(Done, now, "")
	if _, ok := j.Retry(); ok {
		t.Error("Retry of a done job: ok")
	}
}
