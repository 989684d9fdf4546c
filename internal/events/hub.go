// Package events is the hub of the server-sent events at GET /events: a
// ring of the newest job events, each subscriber a position in it, and the
// stream that sends them (the WHATWG HTML "event stream" format).
//
// Lock order: the hub's lock is taken before a Job's (PublishJob copies the
// job's status under it) and before WorkQueue's (Enqueue pushes under it, so
// a job's queued event is published before any other event of that job).
package events

import (
	"math/rand/v2"
	"sync"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/respond"
)

// Sizes and intervals of the event hub.
const (
	eventsKept     = 10_000           // job events kept in the ring: for Last-Event-ID resume, and how far a subscriber may fall behind before it is dropped
	takeMax        = 256              // job events a stream takes from the ring at once, under the hub's lock: about batchBytes of JSON
	statsEvery     = time.Second      // how often subscribers get a stats event
	keepAliveEvery = 15 * time.Second // how often an idle stream gets a comment line
)

// Event is one server-sent event: a job event, numbered, or a stats event,
// whose ID is 0 (stats are not kept and carry no id). A job event's SSE id
// is its hub's life and its ID (see appendID).
type Event struct {
	ID   uint64 // 1, 2, ... in the order published in the hub's life; 0 for stats and for the jobs of a reset's state
	Kind string // the SSE event type: "job" or "stats"
	Data []byte // one JSON value, never changed once published; nil for a job event from PublishJob
	// A job event from PublishJob: the job and its state when published,
	// turned into JSON only when it is sent, if ever.
	job   *job.Job
	state job.Status
}

// AppendData appends ev's data, one JSON value on one line, to b.
func (ev *Event) AppendData(b []byte) []byte {
	if ev.job != nil {
		j := ev.job.View(ev.state)
		b = respond.AppendJob(b, &j)
		return b[:len(b)-1] // without appendJSON's newline
	}
	return append(b, ev.Data...)
}

// Hub is the hub of the server-sent events at GET /events. The ring of
// the newest eventsKept job events is the one buffer of events: each
// subscriber is a position in it, the id of the next job event it has to
// send. Publishers (the Collector, workers, cancels) call Publish, which
// never blocks and copies nothing per subscriber: it stores the event in
// the ring and wakes each subscriber's stream, which takes what it has not
// sent yet from the ring. A subscriber that falls so far behind that the
// ring has overwritten its position is dropped, its stream ended. A client
// that reconnects with Last-Event-ID starts from the position after it, if
// the id is of this hub's life and the ring still holds what follows it;
// any other is told "event: reset" and sent the current state: the jobs
// Jobs lists, then the id of the newest job event.
//
// While anyone subscribes, one goroutine owned by the hub leaves a stats
// event for every subscriber every statsEvery, built by the stats function
// the server supplies; the hub stops it when the last subscriber leaves or
// the hub is closed.
type Hub struct {
	// Jobs, if not nil, lists the jobs the server keeps, for the state a
	// stream is sent after a reset: it appends to dst up to n of those
	// numbered below before, newest first (as store.Store's Older does).
	// Set it before the hub is served; it is called without the hub's lock.
	Jobs func(dst []*job.Job, before uint64, n int) []*job.Job

	stats func() []byte // the stats event's JSON object; nil: no stats events
	life  string        // the start of every job event's SSE id: the hub's life, drawn at random, and a hyphen

	mu       sync.Mutex      // guards the fields below and the fields of subs marked so
	next     uint64          // the id the next job event gets
	ring     []Event         // ring[id%eventsKept]: the newest job events
	subs     []*Subscription // current subscribers, in no order
	stopTick chan struct{}   // while the stats goroutine runs: closed to stop it
	closed   bool
	dropped  int64 // subscribers dropped for falling behind, ever

	wg sync.WaitGroup // the stats goroutine
}

// New returns an open hub whose stats events carry stats() (nil for
// none), in a life of its own: a random 64-bit value in every id it gives,
// so that no id of a server's life is ever given again by a later one. Its
// ring of job events is allocated at once, so publishing never allocates in
// the hub.
func New(stats func() []byte) *Hub { return newHub(rand.Uint64(), stats) }

// newHub returns an open hub of the given life whose stats events carry
// stats().
func newHub(life uint64, stats func() []byte) *Hub {
	return &Hub{
		stats: stats,
		life:  lifePrefix(life),
		next:  1,
		ring:  make([]Event, eventsKept),
	}
}

// Publish numbers a job event of the given kind, keeps it in the ring and
// wakes every subscriber, dropping those that have fallen behind. It never
// blocks, and with nobody subscribed it only stores the event. data must
// not be changed afterwards.
func (e *Hub) Publish(kind string, data []byte) {
	e.mu.Lock()
	e.publishLocked(Event{Kind: kind, Data: data})
	e.mu.Unlock()
}

// PublishJob publishes r as it is now, a "job" event: call it after every
// change of r's state, not holding r's lock. It takes r's snapshot under the
// hub's lock, so the events of one job follow the order of its changes even
// when a cancel races a worker. The JSON is built only when the event is
// sent, by the subscriber's goroutine, so with nobody subscribed publishing
// costs a snapshot.
func (e *Hub) PublishJob(r *job.Job) {
	if e == nil { // a server part built without a hub, in a test
		return
	}
	e.mu.Lock()
	e.publishLocked(Event{Kind: "job", job: r, state: r.Status()})
	e.mu.Unlock()
}

// Enqueue queues r with push and, if push succeeds and r is not canceled,
// publishes r's "queued" event, before any later event of r can be
// published: the hub's lock is held across push, which must not block
// (WorkQueue.Push does not). It returns push's error. The Collector calls it instead of push alone.
func (e *Hub) Enqueue(r *job.Job, push func(*job.Job) error) error {
	if e == nil {
		return push(r)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := push(r); err != nil {
		return err
	}
	// Canceled before the push (never queued) or since, r has no queued
	// event: the cancel publishes the job's event itself, before this or
	// right after.
	e.publishQueued(r)
	return nil
}

// EnqueueAll is Enqueue for a batch: it queues every job of rs with
// pushAll, which queues all of them or none and must not block
// (WorkQueue.PushAll does not), and publishes the "queued" event of each
// one not canceled meanwhile, in order. It returns pushAll's error.
func (e *Hub) EnqueueAll(rs []*job.Job, pushAll func([]*job.Job) error) error {
	if e == nil {
		return pushAll(rs)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := pushAll(rs); err != nil {
		return err
	}
	for _, r := range rs {
		e.publishQueued(r)
	}
	return nil
}

// publishQueued publishes r's "queued" event, as r was pushed, unless r is
// canceled already: the cancel publishes the job's event itself. The
// caller holds e.mu.
func (e *Hub) publishQueued(r *job.Job) {
	st := r.Status()
	if st.State == job.Canceled {
		return
	}
	st.State, st.Worker, st.Attempts, st.StartedAt, st.FinishedAt = job.Queued, 0, 0, 0, 0 // as it was pushed
	e.publishLocked(Event{Kind: "job", job: r, state: st})
}

// publishLocked numbers ev and keeps it in the ring, then wakes each
// subscriber, or drops it if ev overwrote the event it has to send next.
// The caller holds e.mu.
func (e *Hub) publishLocked(ev Event) {
	ev.ID = e.next
	e.ring[ev.ID%eventsKept] = ev
	e.next++
	for i := len(e.subs) - 1; i >= 0; i-- { // backwards: a drop moves the last one into i
		s := e.subs[i]
		if e.lost(s) {
			e.drop(s)
			continue
		}
		wake(s)
	}
}

// tick leaves a stats event for every subscriber every statsEvery, in
// place of one not taken yet, and wakes it, until stop is closed: when the
// last subscriber leaves or the hub closes.
func (e *Hub) tick(stop <-chan struct{}) {
	t := time.NewTicker(statsEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-stop:
			return
		}
		data := e.stats() // outside the lock: it reads the server's counters
		e.mu.Lock()
		select {
		case <-stop: // stopped meanwhile: these subscribers are another goroutine's
		default:
			for _, s := range e.subs {
				s.stats = data
				wake(s)
			}
		}
		e.mu.Unlock()
	}
}

// Close ends every stream and stops the stats goroutine; later subscriptions
// are refused. Call it when the HTTP server shuts down (http.Server's
// RegisterOnShutdown), since a stream never goes idle by itself. Close is
// idempotent.
func (e *Hub) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	for len(e.subs) > 0 {
		e.remove(e.subs[len(e.subs)-1]) // the last one stops the stats goroutine
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// Dropped returns how many subscribers the hub has dropped for falling
// behind.
func (e *Hub) Dropped() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dropped
}

// LastID returns the number of the newest job event in the hub's life, 0 if
// none was published.
func (e *Hub) LastID() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.next - 1
}

// Subscribers returns how many subscribers the hub has now.
func (e *Hub) Subscribers() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.subs)
}
