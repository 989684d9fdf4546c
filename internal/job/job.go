// Package job is one job's life: its identity, its state (queued, running,
// done, canceled, failed) and every change of it, made under the job's own
// lock.
//
// Every change is a method that reports false, and changes nothing, when the
// job has already moved on (a start that finds the job canceled, a finish
// that finds it canceled), so two parties racing for a job change it once
// between them. The package knows nothing of queues, journals or HTTP: a
// container that counts the job hands it the counter to update (Enter).
//
// Lock order: a Job's lock is the innermost lock of the server. Code that
// holds the events hub's, the WorkQueue's, the retrier's or the store's lock
// may take a Job's; a Job's methods take no other lock.
package job

import (
	"sync"
	"sync/atomic"
	"time"
)

// Job is one job: greet Name after waiting Delay (or run the server's
// command for it). The Collector creates it, WorkQueue carries it to the
// dispatcher, and one Worker runs it; the classic design calls it a
// WorkRequest.
//
// ID, Seq, Name, Delay, EnqueuedAt, Key, Policy, RunAt and PayloadBytes
// never change once the job is shared (its maker sets RunAt and, through
// SetPayload, its payload before); the rest of its life is guarded by its
// lock.
type Job struct {
	ID         string        // Seq in decimal
	Seq        uint64        // the job's number, 1, 2, ... in the order received
	Name       string        // the name it greets, at most 1 KiB
	Delay      time.Duration // how long its work waits before it greets
	EnqueuedAt time.Time     // when it was accepted
	Key        string        // the Idempotency-Key it was accepted with, or ""
	Policy     Policy        // its own retries and timeout, as submitted
	RunAt      time.Time     // the time before which it does not start (run_at); zero for none
	// PayloadBytes is the length of its payload as sent, 0 for none; it
	// stays when a finished job's payload is dropped (DropPayload).
	PayloadBytes int
	delay        string // Delay as the API shows it, made once (see DelayText)

	mu         sync.Mutex    // guards the fields below
	waiting    *atomic.Int64 // the count of the queue that counts j as waiting, while it does; else nil
	state      State
	worker     int           // the worker's number, once running
	startedAt  time.Time     // once running
	finishedAt time.Time     // once final
	err        string        // why it failed, or why its last attempt did
	cancel     func()        // interrupts the work, while running
	completing bool          // running, its work complete, its greeting being written
	attempts   int           // how many times it was started, this run and before a crash
	unsettled  bool          // final, its effects (journal, store) not yet all applied: Retry waits for Settled
	base       int           // attempts when POST /work/<id>/retry last ran it again: its retries count from there
	retryAt    time.Time     // while queued after a failed attempt: when the next one starts
	output     string        // the end of its command's output (-- COMMAND)
	truncated  bool          // output lost its beginning
	payload    []byte        // its payload, raw JSON as sent; nil for none or once dropped
	dropped    bool          // its payload was dropped to bound memory (DropPayload)
	final      chan struct{} // made by Final for the first waiter, closed once final
	remote     lease         // while running on a remote worker: its claim (see lease.go)
}

// Policy is what a submission may say of how its job's attempts run
// (-- COMMAND): how many retries a failed attempt gets, and how long one
// attempt may run. The zero Policy takes the server's -retries and
// -job-timeout.
type Policy struct {
	Retries    int           // retries after a failed attempt, if SetRetries
	SetRetries bool          // whether the submission gave retries
	Timeout    time.Duration // longest one attempt may run; 0 for the server's -job-timeout
}

// RetriesOr returns p's retries, or def (-retries) if the submission gave none.
func (p Policy) RetriesOr(def int) int {
	if p.SetRetries {
		return p.Retries
	}
	return def
}

// New returns a queued job numbered seq, with id its number in decimal (the
// caller may have it already, as the end of the job's URL), and its policy pol.
func New(id string, seq uint64, name string, delay time.Duration, key string, enqueuedAt time.Time, pol Policy) *Job {
	return &Job{ID: id, Seq: seq, Name: name, Delay: delay, delay: delay.String(), Key: key, EnqueuedAt: enqueuedAt, Policy: pol}
}

// SetPayload gives j, not yet shared, its payload: raw JSON text, kept as
// it is (b is not copied, and must not change).
func (j *Job) SetPayload(b []byte) {
	j.payload, j.PayloadBytes = b, len(b)
}

// Payload returns j's payload as raw JSON text, or nil if it has none, and
// whether it had one that was dropped to bound memory. The bytes must not
// be changed.
func (j *Job) Payload() (b []byte, dropped bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.payload, j.dropped
}

// DropPayload forgets j's payload, so that its memory can be reclaimed: the
// store drops the payloads of its older finished jobs. GET /work/<id> then
// says payload_dropped. It reports whether j had a payload to drop.
func (j *Job) DropPayload() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.payload == nil {
		return false
	}
	j.payload, j.dropped = nil, true
	return true
}

// DelayText returns j's delay as the API shows it, such as "1.5s": made
// once, when j was, rather than for every answer and event that shows j.
func (j *Job) DelayText() string {
	if j.delay != "" {
		return j.delay
	}
	return j.Delay.String()
}

// State returns j's state now.
func (j *Job) State() State {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state
}

// Attempts returns how many times j was started, before a crash included.
func (j *Job) Attempts() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.attempts
}

// RetriesUsed returns how many of j's attempts since it was last run again
// by POST /work/<id>/retry (or ever) were retries' attempts, plus one: the
// number to hold against its retries.
func (j *Job) RetriesUsed() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.attempts - j.base
}

// Final returns a channel that is closed once j is in a final state: at
// once if it already is. The channel is made by the first caller, so a job
// no one waits for never has one.
func (j *Job) Final() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.final == nil {
		j.final = make(chan struct{})
		if j.state.Final() {
			close(j.final)
		}
	}
	return j.final
}

// HasWaiter reports whether anyone has asked for j's Final channel: a
// parked GET ?wait= has.
func (j *Job) HasWaiter() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.final != nil
}

// wake closes j's final channel, if a waiter made one. The transitions to a
// final state call it, holding j.mu, once each.
func (j *Job) wake() {
	if j.final != nil {
		close(j.final)
	}
}
