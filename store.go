package main

import (
	"slices"
	"strconv"
	"sync"
)

// Store keeps every queued and running WorkRequest, and the newest finished
// ones up to a limit, by ID. Memory for its records is bounded by the queue,
// the workers and that limit, not by how many requests were ever made.
//
// It keys requests by their sequence number rather than their ID string,
// which is that number in decimal: numbers hash faster, and hold no pointers
// for the garbage collector to follow.
type Store struct {
	mu       sync.Mutex              // guards the fields below
	jobs     map[uint64]*WorkRequest // every request kept, by seq
	finished []uint64                // ring of kept finished seqs, oldest at head
	head     int                     // index of the oldest entry in finished
	n        int                     // how many entries of finished are in use
}

// NewStore returns a Store that keeps the newest limit finished requests.
func NewStore(limit int) *Store {
	return &Store{
		jobs:     make(map[uint64]*WorkRequest),
		finished: make([]uint64, limit),
	}
}

// Add keeps r, which must be new.
func (s *Store) Add(r *WorkRequest) {
	s.mu.Lock()
	s.jobs[r.seq] = r
	s.mu.Unlock()
}

// Remove forgets r; the Collector calls it when r could not be queued.
func (s *Store) Remove(r *WorkRequest) {
	s.mu.Lock()
	delete(s.jobs, r.seq)
	s.mu.Unlock()
}

// Has reports whether the store keeps the request numbered seq: the
// journal's compaction keeps the records of exactly those.
func (s *Store) Has(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.jobs[seq]
	return ok
}

// Get returns the request with the given ID, or nil.
func (s *Store) Get(id string) *WorkRequest {
	seq, err := strconv.ParseUint(id, 10, 64)
	if err != nil || strconv.FormatUint(seq, 10) != id {
		return nil // not an ID this server gives: "007", "+7", "x"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[seq]
}

// Finished records that r reached a final state, forgetting the oldest
// finished request if the store already keeps its limit of them.
func (s *Store) Finished(r *WorkRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := len(s.finished)
	if limit == 0 {
		delete(s.jobs, r.seq)
		return
	}
	if s.n == limit {
		delete(s.jobs, s.finished[s.head])
		s.finished[s.head] = r.seq
		s.head = (s.head + 1) % limit
		return
	}
	s.finished[(s.head+s.n)%limit] = r.seq
	s.n++
}

// Len returns how many requests the store keeps.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.jobs)
}

// Unfinished returns the IDs of the first max requests kept that have not
// reached a final state, in the order received, and how many more there
// are. It copies the requests under the store's lock and reads their states
// after releasing it, so it never holds two locks at once.
func (s *Store) Unfinished(max int) (ids []string, more int) {
	s.mu.Lock()
	reqs := make([]*WorkRequest, 0, len(s.jobs))
	for _, r := range s.jobs {
		reqs = append(reqs, r)
	}
	s.mu.Unlock()
	var seqs []uint64
	for _, r := range reqs {
		r.mu.Lock()
		final := r.state.Final()
		r.mu.Unlock()
		if !final {
			seqs = append(seqs, r.seq)
		}
	}
	slices.Sort(seqs)
	for _, seq := range seqs[:min(max, len(seqs))] {
		ids = append(ids, strconv.FormatUint(seq, 10))
	}
	return ids, len(seqs) - len(ids)
}
