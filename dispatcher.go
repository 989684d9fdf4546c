package main

import "sync"

// WorkerQueue is the pool of idle workers: a buffered channel of the workers'
// own channels, one slot per worker. An idle Worker puts its channel in;
// the dispatcher takes one out and sends that worker a request on it.
type WorkerQueue chan chan *WorkRequest

// Dispatcher is the single goroutine between WorkQueue and the workers. It
// takes each WorkRequest off WorkQueue in order and hands it to the next idle
// worker taken from WorkerQueue.
type Dispatcher struct {
	queue       <-chan *WorkRequest
	workerQueue WorkerQueue
	workers     []*Worker
}

// NewDispatcher returns a Dispatcher that feeds requests from queue to the
// given workers, all of which must put their channels into workerQueue.
func NewDispatcher(queue <-chan *WorkRequest, workerQueue WorkerQueue, workers []*Worker) *Dispatcher {
	return &Dispatcher{queue: queue, workerQueue: workerQueue, workers: workers}
}

// Run starts the workers and dispatches requests until WorkQueue is closed
// and empty, or until abort is closed; requests still queued then are never
// run. Before it returns, every worker has finished its last request and
// exited: Run takes each worker's channel back from WorkerQueue, which the
// worker puts there only when idle, and closes it.
func (d *Dispatcher) Run(abort <-chan struct{}) {
	var wg sync.WaitGroup
	for _, w := range d.workers {
		wg.Go(w.Run)
	}
	d.dispatch(abort)
	for range d.workers {
		close(<-d.workerQueue)
	}
	wg.Wait()
}

// dispatch hands each request to an idle worker, skipping those canceled
// while they waited, until the queue is closed and empty or abort is closed.
func (d *Dispatcher) dispatch(abort <-chan struct{}) {
	for {
		select {
		case r, ok := <-d.queue:
			if !ok {
				return
			}
			if r.State() != Queued {
				continue
			}
			select {
			case w := <-d.workerQueue:
				w <- r
			case <-abort:
				return
			}
		case <-abort:
			return
		}
	}
}
