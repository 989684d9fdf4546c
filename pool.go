package main

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// errPoolClosed is why a resize has no effect once the dispatcher is taking
// its workers back for good.
var errPoolClosed = errors.New("the server is shutting down: its workers are stopping")

// Pool is the set of workers behind WorkerQueue, and the number of them
// asked for, which PUT /workers changes while the server runs (SPEC.md,
// "GET /workers, PUT /workers"). It never hands out requests itself: the
// dispatcher does, and it is the dispatcher that retires an idle worker,
// by taking that worker's channel out of WorkerQueue and closing it, as
// the drain does. A busy worker over the target retires itself when its
// job ends, instead of putting its channel back (see Pool.idle).
//
// Worker numbers are unique among the workers alive: a new worker takes
// the lowest number free.
type Pool struct {
	newWorker func(id int) *Worker
	max       int // -max-workers: the most Resize may ask for
	wake      chan struct{}
	wg        sync.WaitGroup // counts the workers' goroutines

	mu      sync.Mutex                // guards the fields below
	target  int                       // workers asked for
	alive   int                       // workers started and not retired, busy ones included
	numbers []bool                    // numbers[k]: worker k is alive; index 0 unused
	ids     map[chan *WorkRequest]int // each alive worker's number, by its channel
	closing bool                      // the dispatcher is taking every worker back: no more growth or self-retirement
	// over is alive - target while that is positive and the pool is not
	// closing, else 0: set under mu, read without it by idle, so that a
	// worker back from a job takes no lock while the pool is not shrinking.
	over atomic.Int64
}

// NewPool returns a pool of up to max workers made by newWorker, which
// must announce themselves on a WorkerQueue with room for max channels.
func NewPool(max int, newWorker func(id int) *Worker) *Pool {
	return &Pool{newWorker: newWorker, max: max, wake: make(chan struct{}, 1),
		numbers: make([]bool, max+1), ids: make(map[chan *WorkRequest]int)}
}

// Resize sets the target to n workers, 1 to max, and starts the workers
// that growing needs at once; the dispatcher, woken, retires idle workers
// beyond it. It returns an error for n out of range, and errPoolClosed once
// the server has stopped its workers for good.
func (p *Pool) Resize(n int) error {
	if n < 1 || n > p.max {
		return fmt.Errorf("workers must be from 1 to %d (-max-workers), not %d", p.max, n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return errPoolClosed
	}
	p.target = n
	for p.alive < p.target {
		p.startLocked()
	}
	p.setOverLocked()
	select {
	case p.wake <- struct{}{}:
	default: // the dispatcher is already due to look
	}
	return nil
}

// startLocked starts one worker with the lowest number free. p.mu is held.
func (p *Pool) startLocked() {
	id := 1
	for p.numbers[id] {
		id++
	}
	p.numbers[id] = true
	p.alive++
	w := p.newWorker(id)
	w.pool = p
	p.ids[w.work] = id
	p.wg.Go(w.Run)
}

// Counts returns the workers alive now, busy ones included, and the target.
func (p *Pool) Counts() (alive, target int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.alive, p.target
}

// idle puts the channel of worker w, now idle, back into WorkerQueue, or,
// if the pool is over its target, retires w instead and reports false: the
// worker then exits. While the pool is not over its target it takes no
// lock. A shrink that comes between its check and its put would find the
// channel not yet back and leave an idle worker over the target, so after
// the put idle looks again and, if the pool is now over, wakes the
// dispatcher to retire idle workers, this one among them. The send never
// blocks: WorkerQueue has a slot for every worker.
func (p *Pool) idle(w *Worker) bool {
	if p.over.Load() > 0 {
		p.mu.Lock()
		if !p.closing && p.alive > p.target {
			p.retireLocked(w.ID)
			delete(p.ids, w.work)
			p.mu.Unlock()
			return false
		}
		p.mu.Unlock()
	}
	w.workerQueue <- w.work
	if p.over.Load() > 0 {
		select {
		case p.wake <- struct{}{}:
		default: // the dispatcher is already due to look
		}
	}
	return true
}

// setOverLocked sets over from alive, target and closing. p.mu is held.
func (p *Pool) setOverLocked() {
	if p.closing || p.alive <= p.target {
		p.over.Store(0)
		return
	}
	p.over.Store(int64(p.alive - p.target))
}

// retireLocked stops counting worker id. p.mu is held.
func (p *Pool) retireLocked(id int) {
	p.numbers[id] = false
	p.alive--
	p.setOverLocked()
}

// retireChanLocked stops counting the worker whose channel is ch, and
// closes ch, which ends that idle worker. p.mu is held.
func (p *Pool) retireChanLocked(ch chan *WorkRequest) {
	p.retireLocked(p.ids[ch])
	delete(p.ids, ch)
	close(ch)
}

// retireIdle retires idle workers, taking their channels out of
// workerQueue and closing them, while the pool is over its target and an
// idle worker is there to take. Only the dispatcher calls it.
func (p *Pool) retireIdle(workerQueue WorkerQueue) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.alive > p.target {
		select {
		case ch := <-workerQueue:
			p.retireChanLocked(ch)
		default:
			return // the rest are busy, and retire themselves
		}
	}
}

// closeAll retires every worker: the queue has ended. It waits for each
// busy worker to finish its job and put its channel back, closes every
// channel, and waits for the workers' goroutines to exit. Only the
// dispatcher calls it.
func (p *Pool) closeAll(workerQueue WorkerQueue) {
	p.mu.Lock()
	p.closing = true // from now on no worker retires itself: each comes back
	p.setOverLocked()
	n := p.alive
	p.mu.Unlock()
	for range n {
		ch := <-workerQueue
		p.mu.Lock()
		p.retireChanLocked(ch)
		p.mu.Unlock()
	}
	p.wg.Wait()
}
