package main

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"workqueue/internal/events"
	"workqueue/internal/idempotency"
	"workqueue/internal/job"
	"workqueue/internal/jobjournal"
	"workqueue/internal/metrics"
	"workqueue/internal/queue"
	"workqueue/internal/respond"
	"workqueue/internal/store"
	"workqueue/internal/submit"
)

// WorkQueue is the classic design's queue of accepted WorkRequests between
// the Collector and the dispatcher: bounded, first in first out, and never
// blocking a push (package queue).
type WorkQueue = queue.Queue

// Collector is the HTTP handler for POST /work. It turns each valid request
// into a WorkRequest and pushes it onto WorkQueue, answering 201, or 503
// at once when the queue is full or closed.
type Collector struct {
	queue   *WorkQueue
	jobs    *store.Store
	keys    *idempotency.Keys // the idempotency keys of the jobs kept in jobs
	stats   *metrics.Stats
	events  *events.Hub   // publishes each job's queued event
	limits  submit.Limits // what a submission may ask for
	log     *slog.Logger
	debug   bool            // whether log takes debug lines: checked before building one
	lastID  atomic.Uint64   // the number of the latest request
	node    string          // -node: prefixes every ID, or ""
	journal *jobjournal.Log // where acceptances are made durable; nil without -journal
}

// ServeHTTP handles POST /work.
func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sub, err := submit.Parse(w, r, c.limits)
	if err != nil {
		c.stats.RejectedInvalid.Add(1)
		var he *respond.Refusal
		errors.As(err, &he)
		if he.BodyUnread {
			respond.CloseUnread(w, r)
		}
		respond.Error(w, he.Status, he.Msg)
		return
	}
	var key *idempotency.Claim // nil without an Idempotency-Key
	if vs, ok := r.Header["Idempotency-Key"]; ok {
		var invalid bool
		if key, invalid = c.keys.Check(w, vs, sub.Name, sub.Delay, sub.Policy, c.jobs.BySeq); key == nil {
			if invalid {
				c.stats.RejectedInvalid.Add(1)
			}
			return // answered: a replay, or a 400, 409 or 422
		}
		defer key.Release() // unless bound below
	}
	if err := c.journal.Err(); err != nil {
		c.refuse(w, err)
		return
	}
	if c.queue.Len() >= c.queue.Cap() && !c.queue.Closed() {
		// Full now, so refusing is right; checking first spares a flood
		// of excess requests the work below.
		c.refuse(w, queue.ErrFull)
		return
	}
	seq := c.lastID.Add(1)
	// One string for both: the job's URL path, and its ID at the end of it.
	location := c.location(seq)
	req := job.New(location[len("/work/"):], seq, sub.Name, sub.Delay, key.Key(), time.Now(), sub.Policy)
	key.Hold(req.Seq)
	c.jobs.Add(req)
	if err := c.journal.Accepted(req); err != nil {
		c.jobs.Remove(req)
		c.refuse(w, err)
		return
	}
	if err := c.events.Enqueue(req, c.queue.Push); err != nil {
		c.journal.Refused(req)
		c.jobs.Remove(req)
		c.refuse(w, err)
		return
	}
	if c.debug {
		c.log.Debug("job accepted", "id", req.ID, "name", req.Name, "delay", req.Delay)
	}
	key.Bind()
	w.Header()["Location"] = []string{location}
	respond.Job(w, http.StatusCreated, req)
}

// refuse answers 503 for a request the server cannot take, because
// WorkQueue is full or draining or the journal cannot be written (err says
// which), and counts it. Only the first two say when to retry: a journal
// that failed stays failed until a restart.
func (c *Collector) refuse(w http.ResponseWriter, err error) {
	switch {
	case err == queue.ErrDraining:
		c.stats.RejectedDraining.Add(1)
	case errors.Is(err, jobjournal.ErrJournal):
		c.stats.RejectedJournal.Add(1)
		respond.Error(w, http.StatusServiceUnavailable, err.Error())
		return
	default:
		c.stats.RejectedFull.Add(1)
	}
	w.Header()["Retry-After"] = []string{"1"}
	respond.Error(w, http.StatusServiceUnavailable, err.Error())
}

// location returns the URL path of the job numbered seq, /work/ID, made in
// one allocation.
func (c *Collector) location(seq uint64) string {
	b := append(make([]byte, 0, 32+len(c.node)), "/work/"...)
	if c.node != "" {
		b = append(append(b, c.node...), '-')
	}
	return string(strconv.AppendUint(b, seq, 10))
}
