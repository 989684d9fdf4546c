package events

import (
	"math"
	"net/http"

	"workqueue/internal/job"
)

// appendReset appends to b, for a client whose Last-Event-ID the stream
// cannot resume from, for the reason why: an "event: reset" whose data is
// {"reason": why}; then the current state, an "event: job" without an id
// for each job Jobs lists (every one the server keeps, newest first, as it
// is now); then a block of "id:" alone, that of last, the newest job event
// when the subscription began, after which the stream goes on. It writes b
// out whenever it passes batchBytes, and returns what is left unwritten.
//
// The state's jobs carry no id, so a client cut off among them reconnects
// with the Last-Event-ID it gave and is reset again: it takes the new id
// only with the whole state. The state is read after the subscription
// began, so the job events that follow may repeat a change it shows already
// (a job's newest event is its state), and none is missed.
func (e *Hub) appendReset(w http.ResponseWriter, rc *http.ResponseController, b []byte, why string, last uint64) ([]byte, error) {
	b = append(append(append(b, "event: reset\ndata: {\"reason\":\""...), why...), "\"}\n\n"...)
	if e.Jobs != nil {
		page := make([]*job.Job, 0, takeMax)
		for before := uint64(math.MaxUint64); ; before = page[len(page)-1].Seq {
			page = e.Jobs(page[:0], before, takeMax)
			for _, r := range page {
				b = e.appendEvent(b, Event{Kind: "job", job: r, state: r.Status()})
				if len(b) >= batchBytes {
					if err := send(w, rc, b); err != nil {
						return b[:0], err
					}
					b = b[:0]
				}
			}
			if len(page) < takeMax {
				break
			}
		}
		clear(page[:cap(page)]) // hold no jobs for longer than it takes to send them
	}
	return append(e.appendID(append(b, "id: "...), last), '\n', '\n'), nil
}
