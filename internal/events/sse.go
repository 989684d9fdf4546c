package events

import (
	"bytes"
	"errors"
	"net/http"
	"time"

	"workqueue/internal/respond"
)

// kickGrace is how long a stream's writer may still take to write once the
// hub has ended its subscription: one that is not stuck on a client that
// stopped reading ends cleanly well within it; one that is stuck is cut off.
const kickGrace = time.Second

// batchBytes is about how much of a stream is written with one flush.
const batchBytes = 32 << 10

// lingerFor is how long a stream waits after an event for more to gather,
// when fewer than lingerBelow are waiting, before it writes them: a busy
// server's events then go out a few hundred to a write, not one or two,
// for a delay a person watching cannot see.
const (
	lingerFor   = 5 * time.Millisecond
	lingerBelow = 64
)

// ServeHTTP handles GET /events: a stream of server-sent events in the
// format of the WHATWG HTML standard, section "Server-sent events" (9.2):
// "id:" (job events only), "event: job" or "event: stats", one "data:" line
// of JSON, and a blank line; a ": keep-alive" comment every keepAliveEvery.
//
// A client resumes with the Last-Event-ID header (or, for curl and tests,
// ?lastEventId=): given an id of this hub's life whose followers the ring
// still holds, it gets the job events it missed first. Given any other (of
// another life, one no longer kept, one never given), it is told so, by an
// "event: reset", and sent the current state before the stream goes on from
// now (see appendReset). A client without one is told the newest id at
// once, so that it resumes from there after a reconnect. The stream ends
// when the client goes away, when the hub drops it for reading too slowly,
// and when the hub closes.
func (e *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// A stream outlives the server's read and write timeouts. The errors
	// say only that a writer has no deadlines to lift.
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	kick := func() { rc.SetWriteDeadline(time.Now().Add(kickGrace)) }
	sub, last, fresh, reset := e.open(r, kick)
	if sub == nil {
		respond.Error(w, http.StatusServiceUnavailable, "the server is shutting down; reconnect in a moment")
		return
	}
	defer e.unsubscribe(sub)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // tell proxies such as nginx not to buffer
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)

	b := append(make([]byte, 0, batchBytes+4096), "retry: 2000\n"...)
	if fresh {
		b = append(e.appendID(append(b, "id: "...), last), '\n')
	}
	b = append(b, '\n')
	var err error
	if reset != "" {
		if b, err = e.appendReset(w, rc, b, reset, last); err != nil {
			return
		}
	}
	evs := make([]Event, 0, takeMax)
	b, err = e.appendPending(w, rc, sub, b, evs) // the events missed, if any
	if err != nil {
		return
	}
	if e.stats != nil {
		b = e.appendEvent(b, Event{Kind: "stats", Data: e.stats()})
	}
	if send(w, rc, b) != nil {
		return
	}
	e.stream(w, r, rc, sub, b, evs)
}

// open subscribes the stream of request r, with kick (see subscribe). A
// stream given no Last-Event-ID is fresh, starting after last, the newest
// job event; one given an id of this life whose followers the ring keeps
// starts after it; any other starts after last with a reset, reset saying
// why. sub is nil once the hub is closed.
func (e *Hub) open(r *http.Request, kick func()) (sub *Subscription, last uint64, fresh bool, reset string) {
	given := lastEventID(r)
	var n uint64
	if given != "" {
		n, reset = e.parseID(given)
	}
	resume := given != "" && reset == ""
	last, complete, sub := e.subscribe(n, resume, kick)
	switch {
	case resume && !complete && n > last:
		reset = resetNever
	case resume && !complete:
		reset = resetNotKept
	}
	return sub, last, given == "", reset
}

// stream writes sub's events to w until the request ends or the hub ends
// sub, and a keep-alive comment whenever a stream has been quiet for
// keepAliveEvery. b and evs are buffers to reuse. When the hub closes, the
// stream ends cleanly after the events pending for sub; when the hub drops
// sub, the connection is closed at once.
func (e *Hub) stream(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, sub *Subscription, b []byte, evs []Event) {
	keepAlive := time.NewTicker(keepAliveEvery)
	defer keepAlive.Stop()
	linger := time.NewTimer(lingerFor)
	defer linger.Stop()
	for {
		ended := false
		select {
		case <-sub.Notify():
			if n := e.backlog(sub); n > 0 && n < lingerBelow {
				// Let the job events that follow gather, and go out with
				// these in one write: a busy server publishes in bursts.
				linger.Reset(lingerFor)
				select {
				case <-linger.C:
				case <-r.Context().Done():
					return
				}
			}
		case <-sub.Done():
			ended = true
		case <-keepAlive.C:
			if send(w, rc, append(b[:0], ": keep-alive\n\n"...)) != nil {
				return
			}
			continue
		case <-r.Context().Done():
			return
		}
		var err error
		b, err = e.appendPending(w, rc, sub, b[:0], evs)
		if errors.Is(err, errDropped) {
			disconnect(rc)
		}
		if err != nil {
			return
		}
		if len(b) > 0 {
			if send(w, rc, b) != nil {
				return
			}
			keepAlive.Reset(keepAliveEvery)
		}
		if ended {
			return
		}
	}
}

// errDropped says that the hub dropped a subscriber for falling behind.
var errDropped = errors.New("subscriber dropped for falling behind")

// appendPending appends to b what sub has pending, taken from the hub
// takeMax job events at a time into evs: the job events, oldest first, then
// the newest stats event. It writes b out whenever it passes batchBytes,
// and returns what is left unwritten. It returns errDropped, and nothing
// more is worth writing, once the hub has dropped sub.
func (e *Hub) appendPending(w http.ResponseWriter, rc *http.ResponseController, sub *Subscription, b []byte, evs []Event) ([]byte, error) {
	for {
		evs, stats, more := e.take(sub, evs[:0])
		if sub.Dropped() {
			return b[:0], errDropped
		}
		for i := range evs {
			b = e.appendEvent(b, evs[i])
			if len(b) >= batchBytes {
				if err := send(w, rc, b); err != nil {
					return b[:0], err
				}
				b = b[:0]
			}
		}
		clear(evs) // hold no jobs for longer than it takes to send them
		if stats != nil {
			b = e.appendEvent(b, Event{Kind: "stats", Data: stats})
		}
		if !more {
			return b, nil
		}
	}
}

// disconnect closes the connection of a subscriber the hub dropped for
// reading too slowly: what it has not read yet is not worth sending, and
// its socket buffers are freed at once. If the connection cannot be taken
// over (a write already failed), the server closes it anyway.
func disconnect(rc *http.ResponseController) {
	if conn, _, err := rc.Hijack(); err == nil {
		conn.Close()
	}
}

// send writes b to w and flushes it to the client.
func send(w http.ResponseWriter, rc *http.ResponseController, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return err
	}
	return rc.Flush()
}

// appendEvent appends ev in the event stream format: its id (job events of
// the ring only), its type, its data one "data:" field a line, and a blank
// line.
func (e *Hub) appendEvent(b []byte, ev Event) []byte {
	if ev.ID != 0 {
		b = append(e.appendID(append(b, "id: "...), ev.ID), '\n')
	}
	b = append(append(append(b, "event: "...), ev.Kind...), '\n')
	if ev.job != nil {
		j := ev.job.View(ev.state)
		return append(respond.AppendJob(append(b, "data: "...), &j), '\n') // one line: JSON escapes newlines
	}
	data := ev.Data
	for {
		line, rest, more := bytes.Cut(data, []byte("\n"))
		b = append(append(append(b, "data: "...), line...), '\n')
		if !more {
			break
		}
		data = rest
	}
	return append(b, '\n')
}

// lastEventID returns the id a client last received, from the Last-Event-ID
// header or the lastEventId query parameter; "" if it gave none.
func lastEventID(r *http.Request) string {
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		return v
	}
	return r.URL.Query().Get("lastEventId")
}
