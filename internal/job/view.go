package job

import (
	"encoding/json"
	"time"
)

// Status is the part of a Job that changes, copied at one instant: what a
// job event keeps of its job (a third of a job's size), and what a journal
// record says of it. Times are Unix nanoseconds, 0 when unset.
type Status struct {
	State                          State
	Truncated                      bool  // Output lost its beginning
	Worker, Attempts               int32 // the worker's number while running, or the last; attempts started
	Base                           int32 // attempts when POST /work/<id>/retry last ran it again
	StartedAt, FinishedAt, RetryAt int64
	Err, Output                    string
	ClaimedBy                      string // the remote worker that claimed it, or ""
	LeaseUntil                     int64  // while a remote worker holds its lease: when it expires
}

// Status returns j's changing part as it is now.
func (j *Job) Status() Status {
	j.mu.Lock()
	defer j.mu.Unlock()
	return Status{
		State:      j.state,
		Truncated:  j.truncated,
		Worker:     int32(j.worker),
		Attempts:   int32(j.attempts),
		Base:       int32(j.base),
		StartedAt:  UnixNano(j.startedAt),
		FinishedAt: UnixNano(j.finishedAt),
		RetryAt:    UnixNano(j.retryAt),
		Err:        j.err,
		Output:     j.output,
		ClaimedBy:  j.remote.by,
		LeaseUntil: UnixNano(j.remote.until),
	}
}

// Restore sets j's changing part to st, as a replay of the journal rebuilt
// it. It is only for a job no one else holds yet.
func (j *Job) Restore(st Status) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.state, j.truncated, j.worker, j.attempts = st.State, st.Truncated, int(st.Worker), int(st.Attempts)
	j.base = int(st.Base)
	j.startedAt, j.finishedAt, j.retryAt = UTC(st.StartedAt), UTC(st.FinishedAt), UTC(st.RetryAt)
	j.err, j.output = st.Err, st.Output
}

// View is a Job as the API shows it, field for field its JSON. Payload is
// the payload itself (GET /work/<id>, POST /work's answer), PayloadBytes its
// size in place of it (a listing, an event): a View has one or the other.
type View struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Delay          string          `json:"delay"`
	Payload        json.RawMessage `json:"payload,omitempty"`
	PayloadBytes   int             `json:"payload_bytes,omitempty"`
	PayloadDropped bool            `json:"payload_dropped,omitempty"`
	RunAt          time.Time       `json:"run_at,omitzero"`
	Retries        *int            `json:"retries,omitempty"`
	Timeout        string          `json:"timeout,omitempty"`
	State          string          `json:"state"`
	Worker         int             `json:"worker,omitempty"`
	EnqueuedAt     time.Time       `json:"enqueued_at"`
	StartedAt      time.Time       `json:"started_at,omitzero"`
	FinishedAt     time.Time       `json:"finished_at,omitzero"`
	Error          string          `json:"error,omitempty"`
	Attempts       int             `json:"attempts,omitempty"`
	RetryAt        time.Time       `json:"retry_at,omitzero"`
	Output         *string         `json:"output,omitempty"`
	Truncated      bool            `json:"output_truncated,omitempty"`
	ClaimedBy      string          `json:"claimed_by,omitempty"`
	LeaseUntil     time.Time       `json:"lease_expires_at,omitzero"`
}

// Snapshot returns a consistent copy of j as the API shows it now, its
// payload included (or PayloadDropped, if it was dropped).
func (j *Job) Snapshot() View {
	v := j.View(j.Status())
	if b, dropped := j.Payload(); b != nil || dropped {
		v.Payload, v.PayloadBytes, v.PayloadDropped = b, 0, dropped
	}
	return v
}

// View returns j as the API shows it in the status st, with the size of its
// payload (PayloadBytes) instead of the payload: what a listing and an event
// show.
func (j *Job) View(st Status) View {
	v := View{
		ID:           j.ID,
		Name:         j.Name,
		Delay:        j.DelayText(),
		PayloadBytes: j.PayloadBytes,
		RunAt:        UTC(UnixNano(j.RunAt)),
		State:        st.State.String(),
		Worker:       int(st.Worker),
		EnqueuedAt:   j.EnqueuedAt.UTC(),
		StartedAt:    UTC(st.StartedAt),
		FinishedAt:   UTC(st.FinishedAt),
		Error:        st.Err,
		Attempts:     int(st.Attempts),
		RetryAt:      UTC(st.RetryAt),
		Truncated:    st.Truncated,
		ClaimedBy:    st.ClaimedBy,
	}
	if st.State == Running {
		v.LeaseUntil = UTC(st.LeaseUntil)
	}
	if j.Policy.SetRetries {
		n := j.Policy.Retries
		v.Retries = &n
	}
	if j.Policy.Timeout > 0 {
		v.Timeout = j.Policy.Timeout.String()
	}
	if st.Output != "" || st.Truncated {
		o := st.Output
		v.Output = &o
	}
	return v
}

// UTC returns the time n Unix nanoseconds, in UTC, or the zero time for 0.
func UTC(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// UnixNano returns t in Unix nanoseconds, or 0 for the zero time: the
// inverse of UTC.
func UnixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
