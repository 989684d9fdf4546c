package main

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Sizes and intervals of the event hub (SPEC "GET /events").
const (
	eventsKept     = 10_000           // job events kept in the ring: for Last-Event-ID resume, and how far a subscriber may fall behind before it is dropped
	takeMax        = 256              // job events a stream takes from the ring at once, under the hub's lock: about batchBytes of JSON
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

// Events is the hub of the server-sent events at GET /events. The ring of
// the newest eventsKept job events is the one buffer of events: each
// subscriber is a position in it, the id of the next job event it has to
// send. Publishers (the Collector, workers, cancels) call Publish, which
// never blocks and copies nothing per subscriber: it stores the event in
// the ring and wakes each subscriber's stream, which takes what it has not
// sent yet from the ring. A subscriber that falls so far behind that the
// ring has overwritten its position is dropped, its stream ended. A client
// that reconnects with Last-Event-ID starts from the position after it.
//
// While anyone subscribes, one goroutine owned by the hub leaves a stats
// event for every subscriber every statsEvery, built by the stats function
// the server supplies; the hub stops it when the last subscriber leaves or
// the hub is closed.
type Events struct {
	stats func() []byte // the stats event's JSON object; nil: no stats events

	mu       sync.Mutex      // guards the fields below and the fields of subs marked so
	next     uint64          // the id the next job event gets
	ring     []Event         // ring[id%eventsKept]: the newest job events
	subs     []*Subscription // current subscribers, in no order
	stopTick chan struct{}   // while the stats goroutine runs: closed to stop it
	closed   bool
	dropped  int64 // subscribers dropped for falling behind, ever

	wg sync.WaitGroup // the stats goroutine
}

// Subscription is one subscriber: a position in the hub's ring, a stats
// event waiting, and a way to wake its stream.
type Subscription struct {
	notify  chan struct{} // capacity 1: a value means "look again"; sent to by the hub without blocking, never closed
	done    chan struct{} // closed by the hub when it ends the subscription: Unsubscribe, a drop, Close
	kick    func()        // unblocks the subscriber's writer; called under the hub's lock, may be nil
	dropped atomic.Bool   // set before done is closed if the hub dropped the subscriber

	next  uint64 // guarded by the hub's mu: the id of the next job event to send
	end   uint64 // guarded by the hub's mu: once the hub has ended s, the id the hub's next had then; 0 before
	stats []byte // guarded by the hub's mu: the newest stats data not taken yet; nil if none
}

// Notify returns the channel the hub sends to (without blocking, so one
// value stands for any number of wakes) after it publishes a job event or
// leaves a stats event for s: then Take has something, or had it since.
func (s *Subscription) Notify() <-chan struct{} { return s.notify }

// Done returns a channel closed when the hub ends s: it dropped s for
// falling behind (Dropped reports true; what is pending is not worth
// sending), it closed (what is pending is still worth sending), or
// Unsubscribe was called.
func (s *Subscription) Done() <-chan struct{} { return s.done }

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
	}
}

// Publish numbers a job event of the given kind, keeps it in the ring and
// wakes every subscriber, dropping those that have fallen behind. It never
// blocks, and with nobody subscribed it only stores the event. data must
// not be changed afterwards.
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

// publishLocked numbers ev and keeps it in the ring, then wakes each
// subscriber, or drops it if ev overwrote the event it has to send next.
// The caller holds e.mu.
func (e *Events) publishLocked(ev Event) {
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

// lost reports whether the ring no longer holds the job event s has to
// send next: it fell more than eventsKept behind. The caller holds e.mu.
func (e *Events) lost(s *Subscription) bool { return s.next+eventsKept < e.next }

// wake tells s's stream to look again, unless it is told already.
func wake(s *Subscription) {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// drop ends s for falling behind and counts it. The caller holds e.mu.
func (e *Events) drop(s *Subscription) {
	e.dropped++
	s.dropped.Store(true)
	e.remove(s)
}

// Take copies into buf (from its length up to its capacity) the job events
// s has yet to send, oldest first, and moves s past them (once the hub has
// ended s, only those published before it did); stats is the
// newest stats data left for s since the last Take, nil if none. more
// reports that buf filled up with more events pending. It takes nothing
// from a subscription the hub dropped, and drops s itself if the ring no
// longer holds s's position, so it never returns an event from an
// overwritten slot.
func (e *Events) Take(s *Subscription, buf []Event) (evs []Event, stats []byte, more bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.Dropped() {
		return buf, nil, false
	}
	if e.lost(s) {
		e.drop(s)
		return buf, nil, false
	}
	n := min(e.pending(s), uint64(cap(buf)-len(buf)))
	for id := s.next; id < s.next+n; id++ {
		buf = append(buf, e.ring[id%eventsKept])
	}
	s.next += n
	stats, s.stats = s.stats, nil
	return buf, stats, e.pending(s) > 0
}

// Pending returns how many job events s has yet to send.
func (e *Events) Pending(s *Subscription) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pending(s)
}

// pending returns how many job events s has yet to send. The caller holds
// e.mu.
func (e *Events) pending(s *Subscription) uint64 {
	if s.end != 0 {
		return s.end - s.next
	}
	return e.next - s.next
}

// remove ends s's stream: it forgets s and kicks its writer. The caller
// holds e.mu.
func (e *Events) remove(s *Subscription) {
	e.forget(s)
	if s.kick != nil {
		s.kick()
	}
}

// forget forgets s if it is subscribed, ends it where the ring is now,
// closes its done channel, and stops the stats goroutine when s was the
// last subscriber. The caller holds e.mu.
func (e *Events) forget(s *Subscription) {
	i := slices.Index(e.subs, s)
	if i < 0 {
		return
	}
	last := len(e.subs) - 1
	e.subs[i], e.subs[last] = e.subs[last], nil
	e.subs = e.subs[:last]
	s.end = e.next
	close(s.done)
	if len(e.subs) == 0 && e.stopTick != nil {
		close(e.stopTick)
		e.stopTick = nil
	}
}

// Subscribe adds a subscriber, whose stream starts after the newest job
// event. kick (which may be nil) is called, under the hub's lock, when the
// hub ends the subscription, to unblock a writer stuck on a slow client; it
// is never called after Unsubscribe returns.
//
// If resume is true, the stream starts after lastEventID instead when the
// ring still holds every job event published after it, and complete says
// whether it does: it is false if some were pushed out of the ring, or
// lastEventID is one this hub never gave (a server restarted since). last
// is the id of the newest job event published before the subscription
// began (0 if none). sub is nil once the hub is closed.
func (e *Events) Subscribe(lastEventID uint64, resume bool, kick func()) (last uint64, complete bool, sub *Subscription) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, false, nil
	}
	last = e.next - 1
	sub = &Subscription{notify: make(chan struct{}, 1), done: make(chan struct{}), kick: kick, next: e.next}
	complete = true
	if resume {
		oldest := max(last, eventsKept) - eventsKept + 1 // the oldest id in the ring
		if lastEventID > last || lastEventID+1 < oldest {
			complete = false
		} else {
			sub.next = lastEventID + 1
		}
	}
	e.subs = append(e.subs, sub)
	if e.stopTick == nil && e.stats != nil {
		stop := make(chan struct{})
		e.stopTick = stop
		e.wg.Go(func() { e.tick(stop) })
	}
	return last, complete, sub
}

// Unsubscribe ends s if the hub has not already ended it.
func (e *Events) Unsubscribe(s *Subscription) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.forget(s)
}

// tick leaves a stats event for every subscriber every statsEvery, in
// place of one not taken yet, and wakes it, until stop is closed: when the
// last subscriber leaves or the hub closes.
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
func (e *Events) Close() {
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
