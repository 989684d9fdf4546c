package main

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Why WorkQueue.Push refused a request.
var (
	errQueueFull = errors.New("the queue is full; retry later")
	errDraining  = errors.New("the server is shutting down and accepts no new work")
)

// WorkQueue is the buffered queue of accepted WorkRequests between the
// Collector and the dispatcher. Pushing never blocks: a full queue refuses.
//
// Close stops intake. It takes the same lock as Push, so a request that Push
// accepted is in the channel, and counted, before Close closes it; a Push
// after Close is refused instead of panicking on a closed channel.
type WorkQueue struct {
	mu       sync.RWMutex // guards closed, and sending on c against closing it
	closed   bool
	c        chan *WorkRequest // closed by Close; received from by the dispatcher
	accepted *atomic.Int64     // counts every request queued
}

// NewWorkQueue returns an open WorkQueue that holds up to size requests and
// counts each request it queues in accepted.
func NewWorkQueue(size int, accepted *atomic.Int64) *WorkQueue {
	return &WorkQueue{c: make(chan *WorkRequest, size), accepted: accepted}
}

// Push queues r without waiting. It returns errQueueFull if the queue has no
// room and errDraining once the queue is closed.
func (q *WorkQueue) Push(r *WorkRequest) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return errDraining
	}
	select {
	case q.c <- r:
		q.accepted.Add(1)
		return nil
	default:
		return errQueueFull
	}
}

// Close stops intake: later Pushes fail with errDraining. The dispatcher
// still receives every request queued before Close.
func (q *WorkQueue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.c)
	}
}

// Closed reports whether Close has been called.
func (q *WorkQueue) Closed() bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.closed
}

// Requests returns the channel the dispatcher receives from.
func (q *WorkQueue) Requests() <-chan *WorkRequest { return q.c }

// Len returns how many requests are waiting in the queue.
func (q *WorkQueue) Len() int { return len(q.c) }

// Cap returns how many requests the queue can hold.
func (q *WorkQueue) Cap() int { return cap(q.c) }

// Collector is the HTTP handler for POST /work. It turns each valid request
// into a WorkRequest and pushes it onto WorkQueue, answering 201, or 503
// at once when the queue is full or closed.
type Collector struct {
	queue    *WorkQueue
	jobs     *Store
	stats    *Stats
	maxDelay time.Duration
	log      *slog.Logger
	debug    bool          // whether log takes debug lines: checked before building one
	lastID   atomic.Uint64 // the ID given to the latest request
}

// ServeHTTP handles POST /work.
func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, delay, err := parseWork(w, r, c.maxDelay)
	if err != nil {
		c.stats.RejectedInvalid.Add(1)
		var he *httpError
		errors.As(err, &he)
		if he.bodyUnread {
			closeUnread(w, r)
		}
		writeError(w, he.status, he.msg)
		return
	}
	if c.queue.Len() == c.queue.Cap() && !c.queue.Closed() {
		// Full now, so refusing is right; checking first spares a flood
		// of excess requests the work below.
		c.refuse(w, errQueueFull)
		return
	}
	seq := c.lastID.Add(1)
	req := &WorkRequest{
		ID:         strconv.FormatUint(seq, 10),
		seq:        seq,
		Name:       name,
		Delay:      delay,
		EnqueuedAt: time.Now(),
	}
	c.jobs.Add(req)
	if err := c.queue.Push(req); err != nil {
		c.jobs.Remove(req)
		c.refuse(w, err)
		return
	}
	if c.debug {
		c.log.Debug("job accepted", "id", req.ID, "name", req.Name, "delay", req.Delay)
	}
	w.Header()["Location"] = []string{"/work/" + req.ID}
	writeJob(w, http.StatusCreated, req)
}

// refuse answers 503 for a request WorkQueue cannot take, because it is
// full or draining (err says which), and counts it.
func (c *Collector) refuse(w http.ResponseWriter, err error) {
	if err == errDraining {
		c.stats.RejectedDraining.Add(1)
	} else {
		c.stats.RejectedFull.Add(1)
	}
	w.Header()["Retry-After"] = []string{"1"}
	writeError(w, http.StatusServiceUnavailable, err.Error())
}
