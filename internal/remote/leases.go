package remote

import (
	"container/heap"
	"sync"
	"time"

	"workqueue/internal/job"
)

// leases are the leases held by remote workers, in the order they expire:
// one heap and one timer for all of them, as the retrier keeps its
// backoffs, never a goroutine per lease. A heartbeat moves a lease on in
// its job alone (job.Job.Renew); the heap finds that out when the old time
// comes, and files the lease again under its new one.
//
// Lock order: mu is taken before a job's lock, never under it.
type leases struct {
	expire func(r *job.Job) // ends an attempt whose lease expired; called without mu

	mu      sync.Mutex
	heap    leaseHeap
	timer   *time.Timer // armed for the earliest lease while any is held; nil before the first
	stopped bool        // Stop was called: no more expiries
}

// held is one lease in the heap: the job, the token, and when the heap
// looks at it next.
type held struct {
	r     *job.Job
	token string
	at    time.Time
}

// add files the lease token of r, expiring at until.
func (l *leases) add(r *job.Job, token string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	heap.Push(&l.heap, held{r: r, token: token, at: until})
	l.armLocked()
}

// armLocked sets the timer for the earliest lease. l.mu is held.
func (l *leases) armLocked() {
	if l.stopped || len(l.heap) == 0 {
		return
	}
	d := time.Until(l.heap[0].at)
	if l.timer == nil {
		l.timer = time.AfterFunc(d, l.fire)
		return
	}
	l.timer.Reset(d)
}

// fire ends the attempts whose leases expired, files again those renewed
// since, and forgets those no longer held (done, failed or canceled).
func (l *leases) fire() {
	var expired []*job.Job
	l.mu.Lock()
	now := time.Now()
	for len(l.heap) > 0 && !l.heap[0].at.After(now) && !l.stopped {
		h := heap.Pop(&l.heap).(held)
		until, gone, live := h.r.Expire(h.token, now)
		switch {
		case gone:
			expired = append(expired, h.r)
		case live:
			h.at = until
			heap.Push(&l.heap, h)
		}
	}
	l.armLocked()
	l.mu.Unlock()
	for _, r := range expired {
		l.expire(r)
	}
}

// take ends every lease still held and returns their jobs, each attempt
// now its caller's to end (a drain that gave up); no lease expires after.
func (l *leases) take() []*job.Job {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	if l.timer != nil {
		l.timer.Stop()
	}
	var rs []*job.Job
	for _, h := range l.heap {
		if _, ok := h.r.EndLease(h.token); ok {
			rs = append(rs, h.r)
		}
	}
	l.heap = nil
	return rs
}

// leaseHeap orders leases by when they are looked at next.
type leaseHeap []held

func (h leaseHeap) Len() int           { return len(h) }
func (h leaseHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h leaseHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *leaseHeap) Push(x any)        { *h = append(*h, x.(held)) }
func (h *leaseHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = held{}
	*h = old[:n-1]
	return x
}
