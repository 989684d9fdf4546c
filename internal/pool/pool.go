// Package pool is the set of workers behind WorkerQueue, resizable while the
// server runs: it starts a worker's goroutine, numbers it, and retires it
// when the pool shrinks or the server stops. It never hands out jobs: the
// dispatcher does.
//
// Lock order: the pool's lock is never held while a worker runs a job, and
// no other lock is taken under it.
package pool

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"workqueue/internal/job"
)

// ErrClosed is why a resize has no effect once the dispatcher is taking its
// workers back for good.
var ErrClosed = errors.New("the server is shutting down: its workers are stopping")

// Pool is the set of workers behind WorkerQueue, and the number of them
// asked for, which PUT /workers changes while the server runs. It never hands out requests itself: the
// dispatcher does, and it is the dispatcher that retires an idle worker,
// by taking that worker's channel out of WorkerQueue and closing it, as
// the drain does. A busy worker over the target retires itself when its
// job ends, instead of putting its channel back (see Idle).
//
// Worker numbers are unique among the workers alive: a new worker takes
// the lowest number free.
type Pool struct {
	start func(id int, work chan *job.Job) // runs worker id, which takes its jobs from work, until it ends
	idle  chan chan *job.Job               // WorkerQueue: the channels of the idle workers
	max   int                              // -max-workers: the most Resize may ask for
	wake  chan struct{}                    // tells the dispatcher to retire idle workers; never closed
	wg    sync.WaitGroup                   // counts the workers' goroutines

	mu      sync.Mutex            // guards the fields below
	target  int                   // workers asked for
	alive   int                   // workers started and not retired, busy ones included
	numbers []bool                // numbers[k]: worker k is alive; index 0 unused
	ids     map[chan *job.Job]int // each alive worker's number, by its channel
	closing bool                  // the dispatcher is taking every worker back: no more growth or self-retirement
	// over is alive - target while that is positive and the pool is not
	// closing, else 0: set under mu, read without it by idle, so that a
	// worker back from a job takes no lock while the pool is not shrinking.
	over atomic.Int64

	claims claims // the remote workers waiting in a claim (see Claim)
}

// New returns an empty pool of up to max workers. Each worker the pool
// starts runs start(id, work) in a goroutine of its own, taking its jobs
// from work, and calls Idle each time it is ready for one; idle is
// WorkerQueue, which must have room for max channels, and its room beyond
// them is for remote workers waiting in a claim (see Claim).
func New(max int, idle chan chan *job.Job, start func(id int, work chan *job.Job)) *Pool {
	p := &Pool{start: start, idle: idle, max: max, wake: make(chan struct{}, 1),
		numbers: make([]bool, max+1), ids: make(map[chan *job.Job]int)}
	p.claims.slots = make(map[chan *job.Job]*slot)
	p.claims.max = cap(idle) - max
	return p
}

// Wake returns the channel on which the dispatcher is told to retire the
// idle workers beyond the target (see RetireIdle).
func (p *Pool) Wake() <-chan struct{} { return p.wake }

// Resize sets the target to n local workers, 0 to max (with 0, only
// remote workers run jobs), and starts the workers
// that growing needs at once; the dispatcher, woken, retires idle workers
// beyond it. It returns an error for n out of range, and ErrClosed once
// the server has stopped its workers for good.
func (p *Pool) Resize(n int) error {
	if n < 0 || n > p.max {
		return fmt.Errorf("workers must be from 0 to %d (-max-workers), not %d", p.max, n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return ErrClosed
	}
	p.target = n
	for p.alive < p.target {
		p.startLocked()
	}
	p.setOverLocked()
	p.retireIdleLocked() // so that the answer to a shrink is the pool after it
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
	work := make(chan *job.Job)
	p.ids[work] = id
	p.wg.Go(func() { p.start(id, work) })
}

// Counts returns the workers alive now, busy ones included, and the target.
func (p *Pool) Counts() (alive, target int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.alive, p.target
}

// Idle puts work, the channel of worker id, now idle, back into
// WorkerQueue, or, if the pool is over its target, retires the worker
// instead and reports false: the worker then exits. While the pool is not over its target it takes no
// lock. A shrink that comes between its check and its put would find the
// channel not yet back and leave an idle worker over the target, so after
// the put idle looks again and, if the pool is now over, wakes the
// dispatcher to retire idle workers, this one among them. The send never
// blocks: WorkerQueue has a slot for every worker.
func (p *Pool) Idle(id int, work chan *job.Job) bool {
	if p.over.Load() > 0 {
		p.mu.Lock()
		if !p.closing && p.alive > p.target {
			p.retireLocked(id)
			delete(p.ids, work)
			p.mu.Unlock()
			return false
		}
		p.mu.Unlock()
	}
	p.idle <- work
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
func (p *Pool) retireChanLocked(ch chan *job.Job) {
	p.retireLocked(p.ids[ch])
	delete(p.ids, ch)
	close(ch)
}

// RetireIdle retires idle workers, taking their channels out of
// WorkerQueue and closing them, while the pool is over its target and an
// idle worker is there to take. Only the dispatcher calls it.
func (p *Pool) RetireIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retireIdleLocked()
}

// retireIdleLocked is RetireIdle with p.mu held. Taking an idle worker's
// channel out of WorkerQueue is safe from any goroutine: a channel the
// dispatcher took first is that of a worker about to run a job, which
// retires itself when the job ends. The remote workers' channels it meets
// go back into WorkerQueue: a resize is of local workers only.
func (p *Pool) retireIdleLocked() {
	var remote []chan *job.Job
	defer func() {
		for _, ch := range remote {
			p.idle <- ch // never blocks: their room was theirs
		}
	}()
	for p.alive > p.target {
		select {
		case ch := <-p.idle:
			if p.claims.isRemote(ch) {
				remote = append(remote, ch)
				continue
			}
			p.retireChanLocked(ch)
		default:
			return // the rest are busy, and retire themselves
		}
	}
}

// CloseAll retires every worker: the queue has ended. It waits for each
// busy worker to finish its job and put its channel back, closes every
// channel, and waits for the workers' goroutines to exit. The remote
// workers waiting in a claim are told ErrClosed, and later claims fail so.
// Only the dispatcher calls it.
func (p *Pool) CloseAll() {
	p.claims.mu.Lock()
	p.claims.closed = true // no more remote slots go into WorkerQueue
	p.claims.mu.Unlock()
	p.mu.Lock()
	p.closing = true // from now on no worker retires itself: each comes back
	p.setOverLocked()
	n := p.alive
	p.mu.Unlock()
	for n > 0 {
		ch := <-p.idle
		if p.claims.end(ch) {
			continue
		}
		p.mu.Lock()
		p.retireChanLocked(ch)
		p.mu.Unlock()
		n--
	}
	for { // the remote slots still in WorkerQueue
		select {
		case ch := <-p.idle:
			p.claims.end(ch)
			continue
		default:
		}
		break
	}
	p.wg.Wait()
}
