package testutil

import "net/http"

// StatusRecorder is the least a ResponseWriter can be: it keeps the status
// and the header and drops the body, so that a benchmark measures the
// handler, not the recording of its answer.
type StatusRecorder struct {
	Status int // the status written, 0 before WriteHeader
	header http.Header
}

// NewStatusRecorder returns a StatusRecorder with an empty header.
func NewStatusRecorder() *StatusRecorder { return &StatusRecorder{header: http.Header{}} }

// Header returns the header the handler sets.
func (r *StatusRecorder) Header() http.Header { return r.header }

// WriteHeader keeps status.
func (r *StatusRecorder) WriteHeader(status int) { r.Status = status }

// Write drops p, reporting it written.
func (r *StatusRecorder) Write(p []byte) (int, error) { return len(p), nil }
