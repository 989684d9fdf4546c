package main

import (
	"sync"
	"sync/atomic"
	"time"
)

// Sizes and intervals of the event hub (SPEC "GET /events").
const (
	eventsKept     = 10_000           // job events kept for Last-Event-ID resume
	subscriberBuf  = 4096             // events a subscriber may fall behind before it is dropped: a second of a busy server
	statsEvery     = time.Second      // how often subscribers get a stats event
	keepAliveEvery = 15 * time.Second // how often an idle stream gets a comment line
)

// Event is one server-sent event: a job event, numbered, or a stats event,
// whose ID is 0 (stats are not kept and carry no id).
type Event struct {
	ID   uint64 // 1, 2, ... in the order published; 0 for stats
	Kind string // the SSE event type: "job" or "stats"
	Data []byte // one JSON value, never changed once published; nil for a job event from PublishJob
	// A job event from PublishJob: the job and its state when published,
	// turned into JSON only when it is sent, if ever.
	job   *WorkRequest
	state jobState
}

// AppendData appends ev's data, one JSON value on one line, to b.
func (ev *Event) AppendData(b []byte) []byte {
	if ev.job != nil {
		j := ev.job.view(ev.state)
		b = j.appendJSON(b)
		return b[:len(b)-1] // without appendJSON's newline
	}
	return append(b, ev.Data...)
}

// Events is the hub of the server-sent events at GET /events. Publishers
// (the Collector, workers, cancels) call Publish, which never blocks: each
// subscriber has a buffer of subscriberBuf events, and a subscriber whose
// buffer is full is dropped, its stream ended. The newest eventsKept job
// events stay in a ring, so a client that reconnects with Last-Event-ID gets
// what it missed.
//
// While anyone subscribes, one goroutine owned by the hub sends a stats event
// every statsEvery, built by the stats function the server supplies; the hub
// stops it when the last subscriber leaves or the hub is closed.
type Events struct {
	stats func() []byte // the stats event's JSON object; nil: no stats events

	mu       sync.Mutex                 // guards the fields below
	next     uint64                     // the id the next job event gets
	ring     []Event                    // ring[id%eventsKept]: the newest job events
	subs     map[*Subscription]struct{} // current subscribers
	stopTick chan struct{}              // while the stats goroutine runs: closed to stop it
	closed   bool
	dropped  int64 // subscribers dropped for falling behind, ever

	wg sync.WaitGroup // the stats goroutine
}

// Subscription is one subscriber's stream of events.
type Subscription struct {
	c       chan Event  // buffered; closed by the hub when it drops the subscriber or closes
	kick    func()      // unblocks the subscriber's writer; called under the hub's lock, may be nil
	dropped atomic.Bool // set before c is closed if the hub dropped the subscriber
}

// C returns the subscriber's events. It is closed when the hub drops the
// subscriber for falling behind or closes; the events still in it are worth
// sending only in the second case.
func (s *Subscription) C() <-chan Event { return s.c }

// Dropped reports whether the hub has dropped the subscriber for falling
// behind.
func (s *Subscription) Dropped() bool { return s.dropped.Load() }

// NewEvents returns an open hub whose stats events carry stats() (nil for
// none). Its ring of job events is allocated at once, so publishing never
// allocates in the hub.
func NewEvents(stats func() []byte) *Events {
	return &Events{
		stats: stats,
		next:  1,
		ring:  make([]Event, eventsKept),
		subs:  make(map[*Subscription]struct{}),
	}
}

// Publish numbers a job event of the given kind, keeps it in the ring and
// offers it to every subscriber, dropping those that have fallen behind. It
// never blocks, and with nobody subscribed it only stores the event. data
// must not be changed afterwards.
func (e *Events) Publish(kind string, data []byte) {
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
func (e *Events) PublishJob(r *WorkRequest) {
	if e == nil { // a server part built without a hub, in a test
		return
	}
	e.mu.Lock()
	e.publishLocked(Event{Kind: "job", job: r, state: r.now()})
	e.mu.Unlock()
}

// Enqueue queues r with push and, if push succeeds, publishes r's "queued"
// event, before any later event of r can be published: the hub's lock is
// held across push, which must not block (WorkQueue.Push does not). It
// returns push's error. The Collector calls it instead of push alone.
func (e *Events) Enqueue(r *WorkRequest, push func(*WorkRequest) error) error {
	if e == nil {
		return push(r)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := push(r); err != nil {
		return err
	}
	st := r.now()
	st.state, st.worker, st.startedAt, st.finishedAt = Queued, 0, 0, 0 // as it was pushed
	e.publishLocked(Event{Kind: "job", job: r, state: st})
	return nil
}

// publishLocked numbers ev, keeps it in the ring and offers it to the
// subscribers. The caller holds e.mu.
func (e *Events) publishLocked(ev Event) {
	ev.ID = e.next
	e.ring[ev.ID%eventsKept] = ev
	e.next++
	if len(e.subs) > 0 {
		e.broadcast(ev)
	}
}

// broadcast offers ev to every subscriber and drops each one whose buffer is
// full. The caller holds e.mu.
func (e *Events) broadcast(ev Event) {
	for s := range e.subs {
		select {
		case s.c <- ev:
		default:
			e.dropped++
			s.dropped.Store(true)
			e.remove(s)
		}
	}
}

// remove ends s's stream: it forgets s, closes its channel and kicks its
// writer. The caller holds e.mu.
func (e *Events) remove(s *Subscription) {
	e.forget(s)
	if s.kick != nil {
		s.kick()
	}
}

// forget forgets s and closes its channel, and stops the stats goroutine
// when s was the last subscriber. The caller holds e.mu.
func (e *Events) forget(s *Subscription) {
	delete(e.subs, s)
	close(s.c)
	if len(e.subs) == 0 && e.stopTick != nil {
		close(e.stopTick)
		e.stopTick = nil
	}
}

// Subscribe adds a subscriber. kick (which may be nil) is called, under the
// hub's lock, when the hub ends the subscription, to unblock a writer stuck
// on a slow client; it is never called after Unsubscribe returns.
//
// If resume is true, missed holds the job events published after
// lastEventID, and complete says whether that is all of them: it is false if
// some were pushed out of the ring, or lastEventID is one this hub never
// gave (a server restarted since). last is the id of the newest job event
// published before the subscription began (0 if none). sub is nil once the
// hub is closed.
func (e *Events) Subscribe(lastEventID uint64, resume bool, kick func()) (missed []Event, last uint64, complete bool, sub *Subscription) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, 0, false, nil
	}
	last = e.next - 1
	complete = true
	if resume {
		oldest := max(last, eventsKept) - eventsKept + 1 // the oldest id in the ring
		switch {
		case lastEventID > last, lastEventID+1 < oldest:
			complete = false
		default:
			for id := lastEventID + 1; id <= last; id++ {
				missed = append(missed, e.ring[id%eventsKept])
			}
		}
	}
	sub = &Subscription{c: make(chan Event, subscriberBuf), kick: kick}
	e.subs[sub] = struct{}{}
	if e.stopTick == nil && e.stats != nil {
		stop := make(chan struct{})
		e.stopTick = stop
		e.wg.Go(func() { e.tick(stop) })
	}
	return missed, last, complete, sub
}

// Unsubscribe ends s if the hub has not already ended it.
func (e *Events) Unsubscribe(s *Subscription) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.subs[s]; ok {
		e.forget(s)
	}
}

// tick sends a stats event to every subscriber every statsEvery, until
// stop is closed: when the last subscriber leaves or the hub closes.
func (e *Events) tick(stop <-chan struct{}) {
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
			e.broadcast(Event{Kind: "stats", Data: data})
		}
		e.mu.Unlock()
	}
}

// Close ends every stream and stops the stats goroutine; later subscriptions
// are refused. Call it when the HTTP server shuts down (http.Server's
// RegisterOnShutdown), since a stream never goes idle by itself. Close is
// idempotent.
func (e *Events) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	for s := range e.subs {
		e.remove(s) // the last one stops the stats goroutine
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// Dropped returns how many subscribers the hub has dropped for falling
// behind.
func (e *Events) Dropped() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dropped
}

// LastID returns the id of the newest job event, 0 if none was published.
func (e *Events) LastID() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.next - 1
}

// Subscribers returns how many subscribers the hub has now.
func (e *Events) Subscribers() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.subs)
}
