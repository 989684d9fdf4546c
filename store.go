package main

import "sync"

// Store keeps every queued and running WorkRequest, and the newest finished
// ones up to a limit, by ID. Memory for its records is bounded by the queue,
// the workers and that limit, not by how many requests were ever made.
type Store struct {
	mu       sync.Mutex              // guards the fields below
	jobs     map[string]*WorkRequest // every request kept, by ID
	finished []string                // ring of kept finished IDs, oldest at head
	head     int                     // index of the oldest entry in finished
	n        int                     // how many entries of finished are in use
}

// NewStore returns a Store that keeps the newest limit finished requests.
func NewStore(limit int) *Store {
	return &Store{
		jobs:     make(map[string]*WorkRequest),
		finished: make([]string, limit),
	}
}

// Add keeps r, which must be new.
func (s *Store) Add(r *WorkRequest) {
	s.mu.Lock()
	s.jobs[r.ID] = r
	s.mu.Unlock()
}

// Remove forgets r; the Collector calls it when r could not be queued.
func (s *Store) Remove(r *WorkRequest) {
	s.mu.Lock()
	delete(s.jobs, r.ID)
	s.mu.Unlock()
}

// Get returns the request with the given ID, or nil.
func (s *Store) Get(id string) *WorkRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[id]
}

// Finished records that r reached a final state, forgetting the oldest
// finished request if the store already keeps its limit of them.
func (s *Store) Finished(r *WorkRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := len(s.finished)
	if limit == 0 {
		delete(s.jobs, r.ID)
		return
	}
	if s.n == limit {
		delete(s.jobs, s.finished[s.head])
		s.finished[s.head] = r.ID
		s.head = (s.head + 1) % limit
		return
	}
	s.finished[(s.head+s.n)%limit] = r.ID
	s.n++
}

// Len returns how many requests the store keeps.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.jobs)
}
