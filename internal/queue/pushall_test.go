package queue

import (
	"strconv"
	"sync/atomic"
	"testing"

	"workqueue/internal/job"
)

// jobs returns n new requests numbered from first.
func jobs(first, n int) []*job.Job {
	rs := make([]*job.Job, n)
	for i := range rs {
		seq := first + i
		rs[i] = &job.Job{ID: strconv.Itoa(seq), Seq: uint64(seq), Name: "j"}
	}
	return rs
}

// TestPushAll checks a batch is queued whole, in order, or not at all: it
// fits exactly, one more is refused with nothing queued, and a closed queue
// refuses it as draining.
func TestPushAll(t *testing.T) {
	var accepted atomic.Int64
	q := New(5, &accepted)
	if err := q.Push(jobs(1, 1)[0]); err != nil {
		t.Fatal(err)
	}
	if err := q.PushAll(jobs(2, 5)); err != ErrFull {
		t.Fatalf("PushAll of 5 with room for 4: %v, want ErrFull", err)
	}
	if q.Len() != 1 || accepted.Load() != 1 {
		t.Fatalf("after the refused batch: Len %d, accepted %d; want 1, 1", q.Len(), accepted.Load())
	}
	if err := q.PushAll(jobs(2, 4)); err != nil {
		t.Fatalf("PushAll of 4 with room for 4: %v", err)
	}
	if q.Len() != 5 || accepted.Load() != 5 {
		t.Fatalf("after the batch: Len %d, accepted %d; want 5, 5", q.Len(), accepted.Load())
	}
	for want := uint64(1); want <= 5; want++ {
		r, ok, _ := q.Next(nil)
		if !ok || r.Seq != want {
			t.Fatalf("Next: %v, %v; want job %d", r, ok, want)
		}
	}
	q.Close()
	if err := q.PushAll(jobs(6, 1)); err != ErrDraining {
		t.Fatalf("PushAll after Close: %v, want ErrDraining", err)
	}
}
