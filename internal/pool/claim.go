package pool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"workqueue/internal/job"
)

// ErrTooManyClaims is why a claim is refused when as many remote workers
// wait as WorkerQueue has slots for them.
var ErrTooManyClaims = errors.New("too many remote workers are waiting in a claim already")

// claims are the remote workers' places in WorkerQueue (POST /work/claim).
// A claimant is, for the length of its claim, one more idle worker: its
// channel is in WorkerQueue, and the dispatcher hands it the next job as
// it hands one to a local worker (see Hand).
//
// A channel cannot be taken back out of WorkerQueue, so a claimant that
// gives up leaves its slot there, marked free, and the next claimant takes
// that slot over instead of putting another channel in: the slots in
// WorkerQueue never outnumber the claimants that ever waited at once, at
// most max. The dispatcher that takes a free slot out drops it and hands
// its job to the next worker instead. Whether a slot is free or waiting is
// decided under mu, by the claimant giving up or by the dispatcher handing
// it a job, whichever is first: so no job is handed to a claimant gone.
//
// Lock order: the pool's lock may be held when mu is taken, never the
// reverse; no job's lock is taken under mu.
type claims struct {
	mu      sync.Mutex
	slots   map[chan *job.Job]*slot // every remote slot in WorkerQueue, or in the dispatcher's hand
	free    []*slot                 // slots in WorkerQueue whose claimant gave up
	max     int                     // most slots at once: WorkerQueue's room beyond the local workers
	closed  bool                    // the dispatcher has taken its workers back: no more claims
	n       atomic.Int64            // len(slots), read by Hand without mu
	waiting atomic.Int64            // claimants waiting now
}

// slot is one remote worker's channel in WorkerQueue.
type slot struct {
	ch      chan *job.Job // buffered, for one job: the dispatcher's send never blocks
	reply   chan bool     // buffered, for one answer: whether the claimant took the job
	waiting bool          // a claimant waits on ch; false while free. Guarded by claims.mu
}

// Claim waits up to wait for the dispatcher to hand the caller, a remote
// worker, the next job, as one more idle worker in WorkerQueue. It returns
// the job, not yet started (the caller claims it, see job.Job.Claim), or
// nil if none came within wait. A claim that ends without a job, by wait
// or by ctx (its client hung up), took none: a job handed to it as it gave
// up goes on to the next worker, in its turn. It fails with ErrClosed once
// the dispatcher has taken its workers back (the drain has handed out
// every job), with ErrTooManyClaims if too many claimants wait already, and
// with ctx's error if ctx ended.
func (p *Pool) Claim(ctx context.Context, wait time.Duration) (*job.Job, error) {
	s, err := p.park()
	if err != nil {
		return nil, err
	}
	defer p.claims.waiting.Add(-1)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case r, ok := <-s.ch:
		return s.take(ctx, r, ok)
	case <-t.C:
	case <-ctx.Done():
	}
	c := &p.claims
	c.mu.Lock()
	if s.waiting { // nothing came: the slot stays in WorkerQueue, free
		s.waiting = false
		c.free = append(c.free, s)
		c.mu.Unlock()
		return nil, ctx.Err()
	}
	c.mu.Unlock()
	r, ok := <-s.ch // the dispatcher sent it, under mu, before we looked
	return s.take(ctx, r, ok)
}

// take answers the dispatcher for the job r it sent on s (ok false: s was
// closed, the pool is closing): the caller takes r unless ctx has ended.
func (s *slot) take(ctx context.Context, r *job.Job, ok bool) (*job.Job, error) {
	if !ok {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		s.reply <- false // the dispatcher hands r to the next worker
		return nil, err
	}
	s.reply <- true
	return r, nil
}

// park puts a slot for a new claimant into WorkerQueue, or takes over a
// free one already there.
func (p *Pool) park() (*slot, error) {
	c := &p.claims
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if n := len(c.free); n > 0 {
		s := c.free[n-1]
		c.free[n-1] = nil
		c.free = c.free[:n-1]
		s.waiting = true
		c.waiting.Add(1)
		return s, nil
	}
	if len(c.slots) >= c.max {
		return nil, ErrTooManyClaims
	}
	s := &slot{ch: make(chan *job.Job, 1), reply: make(chan bool, 1), waiting: true}
	c.slots[s.ch] = s
	c.n.Add(1)
	c.waiting.Add(1)
	p.idle <- s.ch // never blocks: WorkerQueue has max slots beyond the local workers
	return s, nil
}

// Hand gives r to the worker whose channel w the dispatcher took from
// WorkerQueue, and reports whether that worker took it: a local worker
// always does; a remote one does unless its claim ended first, and then
// the dispatcher hands r to the next worker. For a remote worker, Hand
// waits only for the claimant to say yes or no, which it does at once.
func (p *Pool) Hand(w chan *job.Job, r *job.Job) bool {
	if p.claims.n.Load() > 0 {
		if s := p.claims.takeSlot(w); s != nil {
			return s.offer(&p.claims, r)
		}
	}
	w <- r
	return true
}

// takeSlot returns the remote slot whose channel is w, now out of
// WorkerQueue, and forgets it; nil if w is a local worker's.
func (c *claims) takeSlot(w chan *job.Job) *slot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.slots[w]
	if s == nil {
		return nil
	}
	delete(c.slots, w)
	c.n.Add(-1)
	if !s.waiting {
		for i, f := range c.free {
			if f == s {
				c.free = append(c.free[:i], c.free[i+1:]...)
				break
			}
		}
	}
	return s
}

// offer sends r to s's claimant, if it still waits, and reports whether it
// took r.
func (s *slot) offer(c *claims, r *job.Job) bool {
	c.mu.Lock()
	if !s.waiting {
		c.mu.Unlock()
		return false
	}
	s.waiting = false
	s.ch <- r
	c.mu.Unlock()
	return <-s.reply
}

// isRemote reports whether ch is a remote slot's channel.
func (c *claims) isRemote(ch chan *job.Job) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slots[ch] != nil
}

// end closes the remote slot whose channel is ch, taken out of WorkerQueue
// for good: its claimant, if one waits, gets ErrClosed. It reports false
// if ch is a local worker's.
func (c *claims) end(ch chan *job.Job) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.slots[ch]
	if s == nil {
		return false
	}
	delete(c.slots, ch)
	c.n.Add(-1)
	s.waiting = false
	close(s.ch)
	return true
}

// RemoteWaiting returns how many remote workers wait in a claim now.
func (p *Pool) RemoteWaiting() int64 { return p.claims.waiting.Load() }
