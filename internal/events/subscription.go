package events

import (
	"slices"
	"sync/atomic"
)

// Subscription is one subscriber: a position in the hub's ring, a stats
// event waiting, and a way to wake its stream.
type Subscription struct {
	notify  chan struct{} // capacity 1: a value means "look again"; sent to by the hub without blocking, never closed
	done    chan struct{} // closed by the hub when it ends the subscription: unsubscribe, a drop, Close
	kick    func()        // unblocks the subscriber's writer; called under the hub's lock, may be nil
	dropped atomic.Bool   // set before done is closed if the hub dropped the subscriber

	next  uint64 // guarded by the hub's mu: the id of the next job event to send
	end   uint64 // guarded by the hub's mu: once the hub has ended s, the id the hub's next had then; 0 before
	stats []byte // guarded by the hub's mu: the newest stats data not taken yet; nil if none
}

// Notify returns the channel the hub sends to (without blocking, so one
// value stands for any number of wakes) after it publishes a job event or
// leaves a stats event for s: then take has something, or had it since.
func (s *Subscription) Notify() <-chan struct{} { return s.notify }

// Done returns a channel closed when the hub ends s: it dropped s for
// falling behind (Dropped reports true; what is pending is not worth
// sending), it closed (what is pending is still worth sending), or
// unsubscribe was called.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Dropped reports whether the hub has dropped the subscriber for falling
// behind.
func (s *Subscription) Dropped() bool { return s.dropped.Load() }

// lost reports whether the ring no longer holds the job event s has to
// send next: it fell more than eventsKept behind. The caller holds e.mu.
func (e *Hub) lost(s *Subscription) bool { return s.next+eventsKept < e.next }

// wake tells s's stream to look again, unless it is told already.
func wake(s *Subscription) {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// drop ends s for falling behind and counts it. The caller holds e.mu.
func (e *Hub) drop(s *Subscription) {
	e.dropped++
	s.dropped.Store(true)
	e.remove(s)
}

// take copies into buf (from its length up to its capacity) the job events
// s has yet to send, oldest first, and moves s past them (once the hub has
// ended s, only those published before it did); stats is the
// newest stats data left for s since the last take, nil if none. more
// reports that buf filled up with more events pending. It takes nothing
// from a subscription the hub dropped, and drops s itself if the ring no
// longer holds s's position, so it never returns an event from an
// overwritten slot.
func (e *Hub) take(s *Subscription, buf []Event) (evs []Event, stats []byte, more bool) {
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

// backlog returns how many job events s has yet to send.
func (e *Hub) backlog(s *Subscription) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pending(s)
}

// pending returns how many job events s has yet to send. The caller holds
// e.mu.
func (e *Hub) pending(s *Subscription) uint64 {
	if s.end != 0 {
		return s.end - s.next
	}
	return e.next - s.next
}

// remove ends s's stream: it forgets s and kicks its writer. The caller
// holds e.mu.
func (e *Hub) remove(s *Subscription) {
	e.forget(s)
	if s.kick != nil {
		s.kick()
	}
}

// forget forgets s if it is subscribed, ends it where the ring is now,
// closes its done channel, and stops the stats goroutine when s was the
// last subscriber. The caller holds e.mu.
func (e *Hub) forget(s *Subscription) {
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

// subscribe adds a subscriber, whose stream starts after the newest job
// event. kick (which may be nil) is called, under the hub's lock, when the
// hub ends the subscription, to unblock a writer stuck on a slow client; it
// is never called after unsubscribe returns.
//
// If resume is true, the stream starts after the job event numbered
// lastEventID (of this hub's life) instead when the ring still holds every
// job event published after it, and complete says whether it does: it is
// false if some were pushed out of the ring, or lastEventID is a number
// this hub has not reached. last is the number of the newest job event
// published before the subscription began (0 if none). sub is nil once the
// hub is closed.
func (e *Hub) subscribe(lastEventID uint64, resume bool, kick func()) (last uint64, complete bool, sub *Subscription) {
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

// unsubscribe ends s if the hub has not already ended it.
func (e *Hub) unsubscribe(s *Subscription) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.forget(s)
}
