package main

import (
	"container/heap"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// The backoff between attempts of a job (SPEC "(v2) Real work").
const (
	backoffFirst  = time.Second // the wait after the first failed attempt
	backoffMax    = time.Minute // the longest wait, before jitter
	backoffJitter = 0.2         // a wait is its base times 1 ± backoffJitter
)

// backoff returns how long a job waits after its failed attempt number
// attempt (1, 2, ...) before its next: 1 s, 2 s, 4 s, ... doubling up to
// 1 min, then times 1 + 0.2×jitter, jitter being in [-1, 1] (clamped).
// Jitter spreads the retries of jobs that failed together. As in gRPC's
// connection backoff (doc/connection-backoff.md), the cap applies before the
// jitter, so that capped waits stay spread: a wait is at most 72 s.
func backoff(attempt int, jitter float64) time.Duration {
	d := backoffFirst
	for i := 1; i < attempt && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	jitter = min(max(jitter, -1), 1)
	return time.Duration(float64(d) * (1 + backoffJitter*jitter))
}

// RetryQueue holds the jobs waiting out their backoff before another attempt,
// and hands each back, through due, once its time has come. It holds no
// goroutine per job: one heap ordered by due time, and one timer set for the
// earliest (SPEC "(v2) Real work": "no worker and no goroutine of its own").
//
// due is called for each request in due order, equal times in the order they
// were added, never two at once, and never while mu is held, so due may call
// Add, Remove or Len. It must not call Stop.
type RetryQueue struct {
	due     func(*WorkRequest)
	handing sync.WaitGroup // counts fire while it may call due

	mu      sync.Mutex // guards the fields below
	waiting retryHeap
	byReq   map[*WorkRequest]*retry // the entry of each waiting request
	added   uint64                  // entries added so far; orders equal times
	timer   *time.Timer             // calls fire at armedAt; nil until first needed
	armedAt time.Time               // zero when the timer is not set
	firing  bool                    // fire is handing requests to due
	stopped bool                    // Stop was called: due is called no more
	rng     *rand.Rand              // the jitter source of Schedule
}

// retry is one request waiting in a RetryQueue.
type retry struct {
	r     *WorkRequest
	at    time.Time // when it is due
	added uint64    // the order it was added in
	index int       // its place in the heap, kept by retryHeap
}

// NewRetryQueue returns an empty RetryQueue that hands due requests to due.
func NewRetryQueue(due func(*WorkRequest)) *RetryQueue {
	return &RetryQueue{
		due:   due,
		byReq: make(map[*WorkRequest]*retry),
		rng:   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
}

// Schedule adds r to wait out the backoff after its failed attempt number
// attempt, with random jitter, and returns when it will be due (the job's
// retry_at).
func (q *RetryQueue) Schedule(r *WorkRequest, attempt int) time.Time {
	q.mu.Lock()
	jitter := 2*q.rng.Float64() - 1
	q.mu.Unlock()
	at := time.Now().Add(backoff(attempt, jitter))
	q.Add(r, at)
	return at
}

// Add adds r, to be handed to due at time at (at once if at has passed). If r
// is already waiting, its time becomes at. After Stop, r waits until DueNow or
// Pending takes it.
func (q *RetryQueue) Add(r *WorkRequest, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e, ok := q.byReq[r]; ok {
		heap.Remove(&q.waiting, e.index)
	}
	e := &retry{r: r, at: at, added: q.added}
	q.added++
	q.byReq[r] = e
	heap.Push(&q.waiting, e)
	q.arm()
}

// Remove takes r out of the queue, as when its job is canceled, and reports
// whether it was waiting. A request that due is being handed at that moment
// is no longer waiting: due must check that its job is still queued.
func (q *RetryQueue) Remove(r *WorkRequest) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.byReq[r]
	if ok {
		heap.Remove(&q.waiting, e.index)
		delete(q.byReq, r)
	}
	return ok
}

// Len returns how many requests are waiting (workqueue_jobs_retrying).
func (q *RetryQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

// Stop stops handing requests to due and waits until due has returned if it
// was running: once Stop returns, due is never called again, so the drain may
// close what due sends to. The waiting requests stay, for DueNow and Pending.
func (q *RetryQueue) Stop() {
	q.mu.Lock()
	q.stopped = true
	if q.timer != nil {
		q.timer.Stop()
	}
	q.mu.Unlock()
	q.handing.Wait()
}

// DueNow removes and returns the requests whose time has come, in due order:
// after Stop, the drain runs them.
func (q *RetryQueue) DueNow() []*WorkRequest {
	q.mu.Lock()
	defer q.mu.Unlock()
	var rs []*WorkRequest
	for now := time.Now(); len(q.waiting) > 0 && !q.waiting[0].at.After(now); {
		rs = append(rs, q.pop())
	}
	return rs
}

// Pending returns the requests still waiting, in due order, without removing
// them: after Stop and DueNow, what the drain leaves for the next start (with
// the journal) or gives up (without).
func (q *RetryQueue) Pending() []*WorkRequest {
	q.mu.Lock()
	es := slices.Clone(q.waiting)
	q.mu.Unlock()
	slices.SortFunc(es, func(a, b *retry) int {
		if retryBefore(a, b) {
			return -1
		}
		return 1
	})
	rs := make([]*WorkRequest, len(es))
	for i, e := range es {
		rs[i] = e.r
	}
	return rs
}

// arm sets the timer for the earliest waiting request, unless fire is running
// (it arms the timer when it ends) or the timer is already set for then.
// q.mu must be held.
func (q *RetryQueue) arm() {
	if q.firing || q.stopped || len(q.waiting) == 0 {
		return
	}
	at := q.waiting[0].at
	if !q.armedAt.IsZero() && q.armedAt.Equal(at) {
		return
	}
	q.armedAt = at
	if q.timer == nil {
		q.timer = time.AfterFunc(time.Until(at), q.fire)
		return
	}
	q.timer.Reset(time.Until(at))
}

// fire hands every request whose time has come to due, one at a time in due
// order, then sets the timer for the next. The timer calls it.
func (q *RetryQueue) fire() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.firing || q.stopped {
		return // the running fire, or nobody, arms the timer next
	}
	q.firing, q.armedAt = true, time.Time{}
	q.handing.Add(1)
	for !q.stopped && len(q.waiting) > 0 && !q.waiting[0].at.After(time.Now()) {
		r := q.pop()
		q.mu.Unlock()
		q.due(r)
		q.mu.Lock()
	}
	q.handing.Done()
	q.firing = false
	q.arm()
}

// pop removes and returns the earliest waiting request. q.mu must be held.
func (q *RetryQueue) pop() *WorkRequest {
	e := heap.Pop(&q.waiting).(*retry)
	delete(q.byReq, e.r)
	return e.r
}

// retryBefore reports whether a is due before b: earlier, or as early and
// added first.
func retryBefore(a, b *retry) bool {
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.added < b.added
}

// retryHeap is a min-heap of waiting requests for container/heap, earliest
// due first.
type retryHeap []*retry

func (h retryHeap) Len() int           { return len(h) }
func (h retryHeap) Less(i, j int) bool { return retryBefore(h[i], h[j]) }

func (h retryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *retryHeap) Push(x any) {
	e := x.(*retry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *retryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
