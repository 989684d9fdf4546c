package job

import "strconv"

// State is where a Job is in its life.
type State uint8

// The states of a Job. A job starts queued; done, canceled and failed are
// final.
const (
	Queued   State = iota // accepted, waiting for a worker (or out a retry's backoff)
	Running               // on a worker
	Done                  // its work complete and its greeting written
	Canceled              // canceled by DELETE, queued or running
	Failed                // its work failed, timed out or panicked, and no retry is left
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

// Final reports whether s is a state a job never leaves.
func (s State) Final() bool { return s >= Done }

// ParseState returns the State named name ("queued", "running", "done",
// "canceled" or "failed"); ok is false for any other name.
func ParseState(name string) (s State, ok bool) {
	for s := Queued; s <= Failed; s++ {
		if s.String() == name {
			return s, true
		}
	}
	return 0, false
}
