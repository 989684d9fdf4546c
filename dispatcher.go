package main

import (
	"sync/atomic"

	"workqueue/internal/pool"
)

// WorkerQueue is the pool of idle workers: a buffered channel of the workers'
// own channels, a slot for each local worker the pool may have
// (-max-workers) and as many for remote workers waiting in a claim. An idle
// Worker puts its channel in, and so does a remote worker for the length of
// its claim (POST /work/claim); the dispatcher takes one out and sends that
// worker a request on it.
type WorkerQueue chan chan *WorkRequest

// Dispatcher is the single goroutine between WorkQueue and the workers. It
// takes each WorkRequest off WorkQueue in order and hands it to the next idle
// worker taken from WorkerQueue.
type Dispatcher struct {
	queue       *WorkQueue
	workerQueue WorkerQueue
	pool        *pool.Pool
	workers     int         // how many workers Run starts with
	aborted     atomic.Bool // set by Abort: hand out no more requests
}

// NewDispatcher returns a Dispatcher that feeds requests from queue to the
// workers of pool, starting with n of them, all of which put their channels
// into workerQueue.
func NewDispatcher(queue *WorkQueue, workerQueue WorkerQueue, pool *pool.Pool, n int) *Dispatcher {
	return &Dispatcher{queue: queue, workerQueue: workerQueue, pool: pool, workers: n}
}

// StartWorkers starts the first workers, n of them. The caller calls it
// once, before Run and before serving, so that GET /workers never shows an
// empty pool and the start cannot undo an early PUT /workers.
func (d *Dispatcher) StartWorkers() error { return d.pool.Resize(d.workers) }

// Run dispatches requests until WorkQueue has ended (see WorkQueue) to the
// workers StartWorkers started and PUT /workers adds. Before it returns,
// every worker has finished its last request and exited: Run takes each
// worker's channel back from WorkerQueue, which the worker puts there only
// when idle, and closes it.
func (d *Dispatcher) Run() {
	d.dispatch()
	d.pool.CloseAll()
}

// Abort makes the dispatcher pass over the requests still queued instead of
// handing them out. Run still returns only once WorkQueue has ended and every
// worker is idle: the caller closes the queue and interrupts running work.
func (d *Dispatcher) Abort() { d.aborted.Store(true) }

// dispatch hands each request to an idle worker until the queue has ended,
// passing over every request once aborted. A request canceled while it
// waited is handed over too: the worker will not start it (see
// job.Job.Start), and checking here as well would cost every job a lock.
// The request the dispatcher holds while it waits for a worker still counts
// as waiting in WorkQueue until a worker starts it.
func (d *Dispatcher) dispatch() {
	for {
		r, ok, woken := d.queue.Next(d.pool.Wake())
		if woken { // resized: retire the idle workers beyond the target
			d.pool.RetireIdle()
			continue
		}
		if !ok {
			return
		}
		if d.aborted.Load() {
			continue
		}
		for {
			w := <-d.workerQueue
			if d.aborted.Load() { // aborted while waiting for a worker
				d.workerQueue <- w
				break
			}
			if d.pool.Hand(w, r) { // a remote worker that gave up takes nothing: r goes to the next
				break
			}
		}
	}
}
