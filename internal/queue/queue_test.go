package queue

import (
	"sync/atomic"
	"testing"
	"time"

	"workqueue/internal/job"
)

// TestPushCanceledRequest checks a request canceled before the Queue took it
// (DELETE can find a job between the Collector storing it and pushing it)
// is accepted without ever counting as waiting or taking a place.
func TestPushCanceledRequest(t *testing.T) {
	var accepted atomic.Int64
	q := New(1, &accepted)
	r := &job.Job{ID: "1", Seq: 1, Name: "gone"}
	r.Cancel(time.Now())
	if err := q.Push(r); err != nil {
		t.Fatalf("Push of a canceled request: %v, want nil", err)
	}
	if q.Len() != 0 || len(q.c) != 0 || accepted.Load() != 1 {
		t.Errorf("after it: Len %d, %d in the channel, %d accepted; want 0, 0, 1", q.Len(), len(q.c), accepted.Load())
	}
	if err := q.Push(&job.Job{ID: "2", Seq: 2, Name: "next"}); err != nil {
		t.Errorf("Push after it: %v, want nil", err)
	}
}

// TestCanceledRequestsDoNotGrowTheOverflow fills the channel with requests
// and cancels them, cycle after cycle, with no dispatcher taking any: each
// cycle's requests spill into the overflow, and the overflow must drop the
// canceled ones before it grows, so it stays within a few times the queue's
// capacity however many cycles run.
func TestCanceledRequestsDoNotGrowTheOverflow(t *testing.T) {
	const capacity, cycles = 10, 60
	var accepted atomic.Int64
	q := New(capacity, &accepted)
	seq := uint64(0)
	for cycle := range cycles {
		var pushed []*job.Job
		for {
			seq++
			r := job.New("", seq, "x", 0, "", time.Now(), job.Policy{})
			if err := q.Push(r); err != nil {
				if err != ErrFull {
					t.Fatalf("cycle %d: Push = %v, want nil or ErrFull", cycle, err)
				}
				break
			}
			pushed = append(pushed, r)
		}
		if len(pushed) != capacity {
			t.Fatalf("cycle %d: %d pushed before ErrFull, want %d", cycle, len(pushed), capacity)
		}
		for _, r := range pushed {
			r.Cancel(time.Now())
		}
	}
	q.mu.Lock()
	spare := cap(q.overflow)
	q.mu.Unlock()
	if spare > 4*capacity {
		t.Errorf("overflow holds room for %d requests after %d cycles of %d cancels, want at most %d", spare, cycles, capacity, 4*capacity)
	}
}
