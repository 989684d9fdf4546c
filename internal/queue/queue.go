// Package queue is WorkQueue, the bounded first-in-first-out queue of
// accepted jobs between the Collector and the dispatcher: pushing never
// blocks, a full queue refuses, and Close ends it once it is drained.
//
// Lock order: a Queue's lock is taken before a Job's (Push and PushForced
// call Job.Enter under it), and after the events hub's (the Collector
// pushes under the hub's lock so a job's queued event comes first).
package queue

import (
	"errors"
	"sync"
	"sync/atomic"

	"workqueue/internal/job"
)

// Why a Queue refused a job.
var (
	// ErrFull: as many jobs wait as the capacity allows (a 503 with Retry-After).
	ErrFull = errors.New("the queue is full; retry later")
	// ErrDraining: Close was called, intake is over (a 503 with Retry-After).
	ErrDraining = errors.New("the server is shutting down and accepts no new work")
	// ErrEnded: the queue has ended, even PushForced is refused.
	ErrEnded = errors.New("the queue has ended: the dispatcher takes no more requests")
)

// Queue is WorkQueue: the queue of accepted jobs between the Collector and
// the dispatcher: a buffered channel, and an overflow behind it. Pushing
// never blocks: a full queue refuses.
//
// Its capacity (-queue; SPEC "Running it") bounds how many requests wait
// for a worker: accepted, not started and not canceled, the one the
// dispatcher holds while it waits for an idle worker included. Queue
// counts them in waiting: a push adds one, and each request takes its own
// away exactly once, under its own lock, when a worker starts it or it is
// canceled while queued (see job.Job.Enter, Start and Cancel).
//
// A canceled request stays in the channel until the dispatcher passes over
// it, so the channel can be full while fewer requests wait than the
// capacity allows. A request that finds the channel full goes to the
// overflow, a first-in-first-out slice; while the overflow holds any
// request every push goes there too, so the order of acceptance is kept.
// The dispatcher moves requests from the overflow into the channel as it
// makes room (see Next).
//
// Close stops intake. The channel itself is closed, which tells the
// dispatcher it has every request, once intake is closed, the overflow is
// empty and no Hold is outstanding: by Close if that is so already, else by
// the dispatcher's refill that empties the overflow, or by the last Release.
// Sending on the channel and closing it both happen under mu, so a late
// push gets an error, never a panic.
type Queue struct {
	c        chan *job.Job // received from by the dispatcher; closed as above
	capacity int64         // -queue: most requests Push lets wait
	waiting  atomic.Int64  // requests waiting for a worker, as above; never negative
	spilled  atomic.Bool   // whether overflow holds a request; set only under mu
	accepted *atomic.Int64 // counts every request Push queued

	mu       sync.Mutex // guards the fields below, and sending on c against closing it
	overflow []*job.Job // requests behind those in c, oldest first
	closed   bool       // intake is closed: Close was called
	holds    int        // Hold calls not yet Released
	ended    bool       // c is closed
}

// New returns an open Queue that lets up to capacity requests
// wait and counts each request Push queues in accepted.
func New(capacity int, accepted *atomic.Int64) *Queue {
	return &Queue{c: make(chan *job.Job, capacity), capacity: int64(capacity), accepted: accepted}
}

// Push queues r, which must be new, without waiting, and counts it in
// accepted. It returns ErrFull if capacity requests wait already and
// ErrDraining once the queue is closed. A request canceled before Push is
// accepted but never queued: it waits for nothing.
func (q *Queue) Push(r *job.Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed:
		return ErrDraining
	case q.waiting.Load() >= q.capacity: // only Push, PushAll and PushForced add, under mu
		return ErrFull
	}
	q.accepted.Add(1)
	q.add(r)
	return nil
}

// PushAll queues every request of rs, which must be new, in order, or none
// of them: ErrFull if fewer than len(rs) may still wait, ErrDraining once
// the queue is closed. It never waits, and counts each request in accepted,
// as Push does (a batch, SPEC "Many jobs in one request").
func (q *Queue) PushAll(rs []*job.Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed:
		return ErrDraining
	case q.waiting.Load()+int64(len(rs)) > q.capacity: // only Push, PushAll and PushForced add, under mu
		return ErrFull
	}
	q.accepted.Add(int64(len(rs)))
	for _, r := range rs {
		q.add(r)
	}
	return nil
}

// PushForced queues r without the capacity check, for a request that must
// never be refused: one replayed from the journal at start, or a retry whose
// backoff has ended (SPEC "Real work", "Replay"). r is counted as waiting
// like any other, so Len tells the truth and Push refuses while forced
// requests fill the queue beyond its capacity. It does not count r in
// accepted: a retry was counted when it was first accepted, and a replayed
// job is counted by whoever replays it.
//
// PushForced works after Close too, so that a retry due during a drain still
// runs. It fails, with ErrEnded, only once the queue has ended (see
// Queue); a caller that may push during a drain takes a Hold first.
func (q *Queue) PushForced(r *job.Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ended {
		return ErrEnded
	}
	q.add(r)
	return nil
}

// add counts r as waiting and puts it behind every request queued before.
// q.mu must be held and the queue not ended.
func (q *Queue) add(r *job.Job) {
	q.waiting.Add(1)
	if !r.Enter(&q.waiting) {
		q.waiting.Add(-1) // canceled already: it will never wait
		return
	}
	if !q.spilled.Load() {
		select {
		case q.c <- r:
			return
		default: // full, of canceled requests or forced ones
		}
	}
	q.spill(r)
}

// spill appends r to the overflow. Before the slice would grow it drops the
// requests canceled while in it, which the dispatcher would only pass over,
// so that cycles of submitting and canceling cannot grow it without bound.
// q.mu must be held.
func (q *Queue) spill(r *job.Job) {
	if n := len(q.overflow); n > 0 && n == cap(q.overflow) {
		kept := q.overflow[:0]
		for _, o := range q.overflow {
			if o.WaitsIn(&q.waiting) {
				kept = append(kept, o)
			}
		}
		clear(q.overflow[len(kept):])
		q.overflow = kept
	}
	q.overflow = append(q.overflow, r)
	q.spilled.Store(true)
}

// Next returns the next request for the dispatcher, in the order accepted,
// waiting for one if none is queued; ok is false once the queue has ended.
// While it waits, a receive from wake ends the wait with woken set and no
// request. Only the dispatcher calls it. It takes q.mu only when the
// channel is empty or the overflow holds requests.
func (q *Queue) Next(wake <-chan struct{}) (r *job.Job, ok, woken bool) {
	select {
	case r, ok = <-q.c:
	default:
		// Empty. Move what the overflow holds, or end the queue, before
		// blocking: a push spills only while the channel is full, so a
		// spill after this refill leaves the channel something to receive.
		q.refill()
		select {
		case r, ok = <-q.c:
		case <-wake:
			return nil, true, true
		}
	}
	if q.spilled.Load() {
		q.refill()
	}
	return r, ok, false
}

// refill moves requests from the overflow into the channel while it has
// room, and ends the queue if that emptied it after Close.
func (q *Queue) refill() {
	q.mu.Lock()
	defer q.mu.Unlock()
	moved := 0
	for _, r := range q.overflow {
		select {
		case q.c <- r:
			moved++
			continue
		default:
		}
		break
	}
	clear(q.overflow[:moved])
	q.overflow = q.overflow[moved:]
	if len(q.overflow) == 0 {
		q.overflow = nil
		q.spilled.Store(false)
	}
	q.endIfDone()
}

// endIfDone closes the channel if intake is closed, the overflow empty and no
// Hold outstanding. q.mu must be held.
func (q *Queue) endIfDone() {
	if q.closed && !q.ended && len(q.overflow) == 0 && q.holds == 0 {
		q.ended = true
		close(q.c)
	}
}

// Close stops intake: later Pushes fail with ErrDraining. The dispatcher
// still receives every request queued before Close, and those PushForced
// queues until the queue ends.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.endIfDone()
}

// Hold keeps the queue from ending until the matching Release, so that a
// PushForced in between cannot fail: a job waiting out a retry's backoff
// during a drain holds the queue. It returns ErrEnded if the queue has
// ended already. The dispatcher cannot exit while a Hold is outstanding, so
// a holder must Release when the server gives up its drain too.
func (q *Queue) Hold() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ended {
		return ErrEnded
	}
	q.holds++
	return nil
}

// Release ends a Hold, ending the queue if it was the last one keeping the
// closed queue from ending. It panics without a Hold to end.
func (q *Queue) Release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.holds == 0 {
		panic("queue: Release without Hold")
	}
	q.holds--
	q.endIfDone()
}

// Closed reports whether Close has been called.
func (q *Queue) Closed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// Len returns how many requests wait for a worker: queued and not canceled,
// the one the dispatcher holds included. After a drain gives up it still
// counts the requests the aborted dispatcher passed over.
func (q *Queue) Len() int { return int(q.waiting.Load()) }

// Cap returns the queue's capacity: how many requests Push lets wait.
func (q *Queue) Cap() int { return int(q.capacity) }
