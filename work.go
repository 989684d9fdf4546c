package main

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// State is where a WorkRequest is in its life.
type State uint8

// The states of a WorkRequest. A request starts queued; done, canceled and
// failed are final.
const (
	Queued State = iota
	Running
	Done
	Canceled
	Failed
)

// String returns the state's name as the API shows it.
func (s State) String() string {
	switch s {
	case Queued:
		return "queued"
	case Running:
		return "running"
	case Done:
		return "done"
	case Canceled:
		return "canceled"
	case Failed:
		return "failed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Final reports whether s is a state a request never leaves.
func (s State) Final() bool { return s >= Done }

// WorkRequest is one job: greet Name after waiting Delay. The Collector
// creates it, WorkQueue carries it to the dispatcher, and one Worker runs it.
//
// ID, Name, Delay and EnqueuedAt never change once the request is queued; the
// rest of its life is guarded by mu.
type WorkRequest struct {
	ID         string // seq in decimal
	seq        uint64 // the request's number, 1, 2, ... in the order received
	Name       string
	Delay      time.Duration
	EnqueuedAt time.Time
	key        string // the Idempotency-Key it was accepted with, or ""
	delay      string // Delay as the API shows it, such as "1.5s", if made when r was (see delayText)

	mu         sync.Mutex // guards the fields below
	queue      *WorkQueue // counts r as waiting, while it does; else nil
	state      State
	worker     int                // the worker's number, once running
	startedAt  time.Time          // once running
	finishedAt time.Time          // once final
	err        string             // why it failed
	cancel     context.CancelFunc // interrupts the work, while running
	completing bool               // running, its work complete, its greeting being written
	attempts   int                // how many times it was started, this run and before a crash
	retryAt    time.Time          // while queued after a failed attempt: when the next one starts
	output     string             // the last 4 KiB of its command's output (-- COMMAND)
	truncated  bool               // output lost its beginning
	final      chan struct{}      // made by Final for the first waiter, closed once final
}

// Work is the work a Worker performs for a request before it greets the
// request's name. It returns nil when the work is complete, or an error when
// it could not be completed, ctx.Err() when ctx was canceled. It may panic:
// the worker recovers and fails the request. Tests replace it.
type Work func(ctx context.Context, r *WorkRequest) error

// Sleep is the server's Work: it waits for the request's delay, or until ctx
// is canceled.
func Sleep(ctx context.Context, r *WorkRequest) error {
	if r.Delay <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(r.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AppendGreeting appends to b the line a worker prints when it completes r,
// "worker<K>: Hello, <NAME>!\n", and returns the extended buffer.
func (r *WorkRequest) AppendGreeting(b []byte, worker int) []byte {
	b = append(b, "worker"...)
	b = strconv.AppendInt(b, int64(worker), 10)
	b = append(b, ": Hello, "...)
	b = append(b, r.Name...)
	return append(b, "!\n"...)
}

// enter records that q counts r as waiting, so that r stops the count when
// it starts or is canceled. It reports false, and changes nothing, if r is
// no longer queued (it was canceled before q took it).
func (r *WorkRequest) enter(q *WorkQueue) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != Queued {
		return false
	}
	r.queue = q
	return true
}

// waitsIn reports whether q counts r as waiting.
func (r *WorkRequest) waitsIn(q *WorkQueue) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queue == q
}

// stopWaiting tells the WorkQueue counting r, if any, that r no longer
// waits. r.mu must be held, so that a start and a cancel racing for r
// stop the count once between them.
func (r *WorkRequest) stopWaiting() {
	if r.queue != nil {
		r.queue.left()
		r.queue = nil
	}
}

// start moves a queued request to running on the given worker. It reports
// false, and changes nothing, if the request is no longer queued (it was
// canceled while it waited).
func (r *WorkRequest) start(worker int, now time.Time, cancel context.CancelFunc) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != Queued {
		return false
	}
	r.stopWaiting()
	r.state, r.worker, r.startedAt, r.cancel = Running, worker, now, cancel
	r.attempts++
	r.retryAt = time.Time{}
	return true
}

// complete records that r's work is complete and its greeting is about to
// be written: from now on a cancel is refused, since the work cannot be
// undone, and only the worker moves r on, with finish. It reports false, and
// changes nothing, if r had already left the running state (it was canceled).
// The caller writes the greeting after complete returns, holding no lock
// that the API takes.
func (r *WorkRequest) complete() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != Running {
		return false
	}
	r.completing, r.cancel = true, nil
	return true
}

// finish moves a running request to a final state. It reports false, and
// changes nothing, if the request had already left the running state (it was
// canceled).
func (r *WorkRequest) finish(s State, now time.Time, err string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != Running {
		return false
	}
	r.state, r.finishedAt, r.err, r.cancel, r.completing = s, now, err, nil, false
	r.wake()
	return true
}

// cancelJob cancels r: a queued request will never start, and a running
// one has its work interrupted. It returns the state r was in, and reports
// whether it canceled r; it does not if r had already finished, or if its
// work is complete and its greeting is being written (r is still running).
func (r *WorkRequest) cancelJob(now time.Time) (State, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.state
	if prev.Final() || r.completing {
		return prev, false
	}
	if r.cancel != nil {
		r.cancel()
	}
	r.stopWaiting()
	r.state, r.finishedAt, r.cancel, r.retryAt = Canceled, now, nil, time.Time{}
	r.wake()
	return prev, true
}

// job is a WorkRequest as the API shows it.
type job struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Delay      string    `json:"delay"`
	State      string    `json:"state"`
	Worker     int       `json:"worker,omitempty"`
	EnqueuedAt time.Time `json:"enqueued_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Error      string    `json:"error,omitempty"`
	Attempts   int       `json:"attempts,omitempty"`
	RetryAt    time.Time `json:"retry_at,omitzero"`
	Output     *string   `json:"output,omitempty"`
	Truncated  bool      `json:"output_truncated,omitempty"`
}

// snapshot returns a consistent copy of r for the API.
func (r *WorkRequest) snapshot() job { return r.view(r.now()) }

// jobState is the part of a WorkRequest that changes, copied at one
// instant: what a job event keeps of its job, a third of a job's size. Times
// are Unix nanoseconds, 0 when unset.
type jobState struct {
	state                          State
	truncated                      bool
	worker, attempts               int32
	startedAt, finishedAt, retryAt int64
	err, output                    string
}

// now returns r's state as it is now.
func (r *WorkRequest) now() jobState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return jobState{
		state:      r.state,
		truncated:  r.truncated,
		worker:     int32(r.worker),
		attempts:   int32(r.attempts),
		startedAt:  unixNano(r.startedAt),
		finishedAt: unixNano(r.finishedAt),
		retryAt:    unixNano(r.retryAt),
		err:        r.err,
		output:     r.output,
	}
}

// view returns r as the API shows it in state st.
func (r *WorkRequest) view(st jobState) job {
	j := job{
		ID:         r.ID,
		Name:       r.Name,
		Delay:      r.delayText(),
		State:      st.state.String(),
		Worker:     int(st.worker),
		EnqueuedAt: r.EnqueuedAt.UTC(),
		StartedAt:  utc(st.startedAt),
		FinishedAt: utc(st.finishedAt),
		Error:      st.err,
		Attempts:   int(st.attempts),
		RetryAt:    utc(st.retryAt),
		Truncated:  st.truncated,
	}
	if st.output != "" || st.truncated {
		o := st.output
		j.Output = &o
	}
	return j
}

// delayText returns r's delay as the API shows it: made once, when r was,
// rather than for every answer and event that shows r.
func (r *WorkRequest) delayText() string {
	if r.delay != "" {
		return r.delay
	}
	return r.Delay.String()
}

// unixNano returns t in Unix nanoseconds, or 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// utc returns the time n Unix nanoseconds, in UTC, or the zero time for 0.
func utc(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
