package respond

import (
	"net/http"
	"strconv"

	"workqueue/internal/job"
)

// Job answers with status and the job r as it is now, as JSON.
func Job(w http.ResponseWriter, status int, r *job.Job) {
	j := r.Snapshot()
	JSON(w, status, AppendJob(make([]byte, 0, 256), &j))
}

// AppendJob appends j as a JSON object, byte for byte what encoding/json
// makes of it, and a newline, but for the payload: appended as it was sent
// (JSON checked when it was submitted), where encoding/json would compact
// it and escape its <, > and &. Writing it by hand keeps reflection and its
// allocations off the path of every POST /work.
func AppendJob(b []byte, j *job.View) []byte {
	b = append(b, `{"id":`...)
	b = AppendString(b, j.ID)
	b = AppendString(append(b, `,"name":`...), j.Name)
	b = AppendString(append(b, `,"delay":`...), j.Delay)
	if j.Payload != nil {
		b = append(append(b, `,"payload":`...), j.Payload...) // as sent: checked JSON
	}
	if j.PayloadBytes != 0 {
		b = strconv.AppendInt(append(b, `,"payload_bytes":`...), int64(j.PayloadBytes), 10)
	}
	if j.PayloadDropped {
		b = append(b, `,"payload_dropped":true`...)
	}
	if !j.RunAt.IsZero() {
		b = AppendTime(append(b, `,"run_at":`...), j.RunAt)
	}
	if j.Retries != nil {
		b = strconv.AppendInt(append(b, `,"retries":`...), int64(*j.Retries), 10)
	}
	if j.Timeout != "" {
		b = AppendString(append(b, `,"timeout":`...), j.Timeout)
	}
	b = AppendString(append(b, `,"state":`...), j.State)
	if j.Worker != 0 {
		b = strconv.AppendInt(append(b, `,"worker":`...), int64(j.Worker), 10)
	}
	b = AppendTime(append(b, `,"enqueued_at":`...), j.EnqueuedAt)
	if !j.StartedAt.IsZero() {
		b = AppendTime(append(b, `,"started_at":`...), j.StartedAt)
	}
	if !j.FinishedAt.IsZero() {
		b = AppendTime(append(b, `,"finished_at":`...), j.FinishedAt)
	}
	if j.Error != "" {
		b = AppendString(append(b, `,"error":`...), j.Error)
	}
	if j.Attempts != 0 {
		b = strconv.AppendInt(append(b, `,"attempts":`...), int64(j.Attempts), 10)
	}
	if !j.RetryAt.IsZero() {
		b = AppendTime(append(b, `,"retry_at":`...), j.RetryAt)
	}
	if j.Output != nil {
		b = AppendString(append(b, `,"output":`...), *j.Output)
	}
	if j.Truncated {
		b = append(b, `,"output_truncated":true`...)
	}
	if j.ClaimedBy != "" {
		b = AppendString(append(b, `,"claimed_by":`...), j.ClaimedBy)
	}
	if !j.LeaseUntil.IsZero() {
		b = AppendTime(append(b, `,"lease_expires_at":`...), j.LeaseUntil)
	}
	return append(b, "}\n"...)
}

// Jobs answers with status and the jobs rs as they are now, in order, as
// the JSON object {"jobs": [...]}: the answer to a batch.
func Jobs(w http.ResponseWriter, status int, rs []*job.Job) {
	b := append(make([]byte, 0, 64+256*len(rs)), `{"jobs":[`...)
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		j := r.Snapshot()
		b = AppendJob(b, &j)
		b = b[:len(b)-1] // without AppendJob's newline
	}
	JSON(w, status, append(b, "]}\n"...))
}
