package retry

import (
	"container/heap"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"workqueue/internal/job"
)

// Queue holds the jobs waiting out their backoff before another attempt,
// and the jobs waiting for their run_at (scheduled), and hands each back,
// through due, once its time has come. It holds no goroutine per job: one
// heap ordered by due time, and one timer set for the earliest; a waiting
// job costs one small heap entry (32 bytes) and its place in a map.
//
// due is called for each request in due order, equal times in the order they
// were added, never two at once, and never while mu is held, so due may call
// Add, Remove or Len. It must not call Stop.
type Queue struct {
	due     func(*job.Job)
	handing sync.WaitGroup // counts fire while it may call due

	mu        sync.Mutex // guards the fields below
	waiting   retryHeap
	byReq     map[*job.Job]*retry // the entry of each waiting request
	added     uint64              // entries added so far; orders equal times
	scheduled int                 // how many of waiting wait for their run_at, not a retry
	timer     *time.Timer         // calls fire at armedAt; nil until first needed
	armedAt   time.Time           // zero when the timer is not set
	firing    bool                // fire is handing requests to due
	stopped   bool                // Stop was called: due is called no more
	rng       *rand.Rand          // the jitter source of Schedule
}

// retry is one request waiting in a Queue, kept small: a million scheduled
// jobs hold a million of them.
type retry struct {
	r         *job.Job
	at        int64  // when it is due, in Unix nanoseconds
	added     uint64 // the order it was added in
	index     int32  // its place in the heap, kept by retryHeap
	scheduled bool   // it waits for its run_at, not a retry
}

// NewQueue returns an empty Queue that hands due requests to due.
func NewQueue(due func(*job.Job)) *Queue {
	return &Queue{
		due:   due,
		byReq: make(map[*job.Job]*retry),
		rng:   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
}

// Schedule adds r to wait out the backoff after its failed attempt number
// attempt, with random jitter, and returns when it will be due (the job's
// retry_at).
func (q *Queue) Schedule(r *job.Job, attempt int) time.Time {
	q.mu.Lock()
	jitter := 2*q.rng.Float64() - 1
	q.mu.Unlock()
	at := time.Now().Add(Backoff(attempt, jitter))
	q.Add(r, at)
	return at
}

// Add adds r, to be handed to due at time at (at once if at has passed). If r
// is already waiting, its time becomes at. After Stop, r waits until DueNow or
// Pending takes it.
func (q *Queue) Add(r *job.Job, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.add(r, at, false)
}

// AddScheduled adds r, a new job whose run_at is at, to be handed to due
// then, as Add does, unless max or more jobs wait for their run_at already
// (-max-scheduled): then it reports false and adds nothing. A max below 0
// is no bound, for a job replayed from the journal, never refused.
func (q *Queue) AddScheduled(r *job.Job, at time.Time, max int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if max >= 0 && q.scheduled >= max {
		return false
	}
	q.add(r, at, true)
	return true
}

// add adds r, due at at, as Add and AddScheduled do. q.mu must be held.
func (q *Queue) add(r *job.Job, at time.Time, scheduled bool) {
	if e, ok := q.byReq[r]; ok {
		q.remove(e)
	}
	e := &retry{r: r, at: at.UnixNano(), added: q.added, scheduled: scheduled}
	q.added++
	q.byReq[r] = e
	if scheduled {
		q.scheduled++
	}
	heap.Push(&q.waiting, e)
	q.arm()
}

// remove takes e out of the heap and the map. q.mu must be held.
func (q *Queue) remove(e *retry) {
	heap.Remove(&q.waiting, int(e.index))
	delete(q.byReq, e.r)
	if e.scheduled {
		q.scheduled--
	}
}

// Remove takes r out of the queue, as when its job is canceled, and reports
// whether it was waiting. A request that due is being handed at that moment
// is no longer waiting: due must check that its job is still queued.
func (q *Queue) Remove(r *job.Job) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.byReq[r]
	if ok {
		q.remove(e)
	}
	return ok
}

// Len returns how many requests wait out a backoff (workqueue_jobs_retrying).
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting) - q.scheduled
}

// Scheduled returns how many jobs wait for their run_at
// (workqueue_jobs_scheduled).
func (q *Queue) Scheduled() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.scheduled
}

// Stop stops handing requests to due and waits until due has returned if it
// was running: once Stop returns, due is never called again, so the drain may
// close what due sends to. The waiting requests stay, for DueNow and Pending.
func (q *Queue) Stop() {
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
func (q *Queue) DueNow() []*job.Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	var rs []*job.Job
	for now := time.Now().UnixNano(); len(q.waiting) > 0 && q.waiting[0].at <= now; {
		rs = append(rs, q.pop())
	}
	return rs
}

// Pending returns the requests still waiting, in due order, without removing
// them: after Stop and DueNow, what the drain leaves for the next start (with
// the journal) or gives up (without). scheduled holds those that wait for
// their run_at, retries the others.
func (q *Queue) Pending() (retries, scheduled []*job.Job) {
	q.mu.Lock()
	es := slices.Clone(q.waiting)
	q.mu.Unlock()
	slices.SortFunc(es, func(a, b *retry) int {
		if retryBefore(a, b) {
			return -1
		}
		return 1
	})
	for _, e := range es {
		if e.scheduled {
			scheduled = append(scheduled, e.r)
		} else {
			retries = append(retries, e.r)
		}
	}
	return retries, scheduled
}

// arm sets the timer for the earliest waiting request, unless fire is running
// (it arms the timer when it ends) or the timer is already set for then.
// q.mu must be held.
func (q *Queue) arm() {
	if q.firing || q.stopped || len(q.waiting) == 0 {
		return
	}
	at := time.Unix(0, q.waiting[0].at)
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
func (q *Queue) fire() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.firing || q.stopped {
		return // the running fire, or nobody, arms the timer next
	}
	q.firing, q.armedAt = true, time.Time{}
	q.handing.Add(1)
	for !q.stopped && len(q.waiting) > 0 && q.waiting[0].at <= time.Now().UnixNano() {
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
func (q *Queue) pop() *job.Job {
	e := heap.Pop(&q.waiting).(*retry)
	delete(q.byReq, e.r)
	if e.scheduled {
		q.scheduled--
	}
	return e.r
}

// retryBefore reports whether a is due before b: earlier, or as early and
// added first.
func retryBefore(a, b *retry) bool {
	if a.at != b.at {
		return a.at < b.at
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
	h[i].index, h[j].index = int32(i), int32(j)
}

func (h *retryHeap) Push(x any) {
	e := x.(*retry)
	e.index = int32(len(*h))
	*h = append(*h, e)
}

func (h *retryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
