package testutil

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"sync"
)

// SyncBuffer is a bytes.Buffer safe for concurrent use: a server's standard
// output or log in a test. Its zero value is an empty buffer ready to use.
type SyncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

// Write appends p to the buffer; it never fails.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Lines returns the complete lines written so far, without their newlines.
func (s *SyncBuffer) Lines() []string {
	text := s.String()
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		return strings.Split(text[:i], "\n")
	}
	return nil
}

// BlockingWriter is an io.Writer the test controls: each Write records its
// bytes, then waits until the test sends on Release the error it is to
// return.
type BlockingWriter struct {
	Release chan error // unbuffered: each send ends one Write

	mu     sync.Mutex // guards writes
	writes []string
}

// NewBlockingWriter returns a BlockingWriter with no Write yet.
func NewBlockingWriter() *BlockingWriter {
	return &BlockingWriter{Release: make(chan error)}
}

// Write records p, then returns len(p) and nil, or 0 and the error, once
// the test sends nil or an error on Release.
func (w *BlockingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, string(p))
	w.mu.Unlock()
	if err := <-w.Release; err != nil {
		return 0, err
	}
	return len(p), nil
}

// Written returns the Writes so far, each as one string.
func (w *BlockingWriter) Written() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes)
}

// FailingWriter fails every Write with Err.
type FailingWriter struct{ Err error }

// Write returns 0 and w.Err.
func (w FailingWriter) Write(p []byte) (int, error) { return 0, w.Err }

var _ io.Writer = FailingWriter{}
