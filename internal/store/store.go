// Package store keeps the server's jobs by id: every unfinished one and the
// newest finished ones, up to a bound, so that memory is bounded by the
// queue, the workers and that bound, not by how many jobs were ever made.
//
// Lock order: the store's lock is taken before the idempotency keys' (a
// store forgetting a job calls its onForget hook under its lock) and never
// together with a Job's (Unfinished reads states after releasing it).
package store

import (
	"cmp"
	"slices"
	"sync"

	"workqueue/internal/job"
)

// Store keeps every queued and running job, and the newest finished
// ones up to a limit, by ID. Memory for its records is bounded by the queue,
// the workers and that limit, not by how many requests were ever made.
//
// It keys requests by their sequence number rather than their ID string,
// which is that number in decimal: numbers hash faster, and hold no pointers
// for the garbage collector to follow.
type Store struct {
	mu       sync.Mutex          // guards the fields below
	jobs     map[uint64]*job.Job // every request kept, by seq
	finished []uint64            // ring of kept finished seqs, oldest at head
	head     int                 // index of the oldest entry in finished
	n        int                 // how many entries of finished are in use
	order    []uint64            // kept seqs, ascending, with forgotten ones left in until compact
	onForget func(seq uint64)    // called, under mu, for each job the store stops keeping; nil for none
}

// New returns a Store that keeps the newest limit finished jobs and calls
// onForget (if not nil) with the number of each job it stops keeping, under
// its lock: the idempotency keys forget theirs with it.
func New(limit int, onForget func(seq uint64)) *Store {
	return &Store{
		jobs:     make(map[uint64]*job.Job),
		finished: make([]uint64, limit),
		onForget: onForget,
	}
}

// Add keeps r, which must be new.
func (s *Store) Add(r *job.Job) {
	s.mu.Lock()
	s.jobs[r.Seq] = r
	s.index(r.Seq)
	s.mu.Unlock()
}

// Reserve makes room for n more jobs at once, before a replay adds them one
// by one.
func (s *Store) Reserve(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.jobs) == 0 {
		s.jobs = make(map[uint64]*job.Job, n)
	}
	s.order = slices.Grow(s.order, n)
}

// Remove forgets r; the Collector calls it when r could not be queued.
func (s *Store) Remove(r *job.Job) {
	s.mu.Lock()
	delete(s.jobs, r.Seq)
	s.mu.Unlock()
}

// Has reports whether the store keeps the request numbered Seq: the
// journal's compaction keeps the records of exactly those.
func (s *Store) Has(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.jobs[seq]
	return ok
}

// Get returns the request with the given ID, or nil: also for an ID of
// another node (b-7 on the server of -node a, 7 on either).
func (s *Store) Get(id string) *job.Job {
	seq, ok := job.SeqOf(id)
	if !ok {
		return nil // not an ID a server gives: "007", "+7", "x"
	}
	s.mu.Lock()
	r := s.jobs[seq]
	s.mu.Unlock()
	if r == nil || r.ID != id {
		return nil
	}
	return r
}

// Finished records that r reached a final state, forgetting the oldest
// finished request if the store already keeps its limit of them.
func (s *Store) Finished(r *job.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := len(s.finished)
	if limit == 0 {
		s.forget(r.Seq)
		return
	}
	if s.n == limit {
		s.forget(s.finished[s.head])
		s.finished[s.head] = r.Seq
		s.head = (s.head + 1) % limit
		return
	}
	s.finished[(s.head+s.n)%limit] = r.Seq
	s.n++
}

// Retried records that r, finished, was made to run again (POST
// /work/<id>/retry): it is unfinished once more, kept however many jobs
// finish, until it finishes again.
func (s *Store) Retried(r *job.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := len(s.finished)
	for i := 0; i < s.n; i++ {
		if s.finished[(s.head+i)%limit] != r.Seq {
			continue
		}
		for ; i < s.n-1; i++ { // close the gap: the newer ones move back one
			s.finished[(s.head+i)%limit] = s.finished[(s.head+i+1)%limit]
		}
		s.n--
		return
	}
}

// Len returns how many requests the store keeps.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.jobs)
}

// forget drops the request numbered seq and its idempotency key, if any: it
// has left the store. The caller holds s.mu.
func (s *Store) forget(seq uint64) {
	delete(s.jobs, seq)
	if s.onForget != nil {
		s.onForget(seq)
	}
}

// index adds seq to s.order, keeping it ascending. Requests are numbered in
// the order received but may be added a little out of order by concurrent
// handlers, so seq goes at the end or a few places before it. When order
// holds more forgotten seqs than kept ones (plus slack), index compacts it,
// so its cost is O(1) amortized and its length about twice the store's
// plus 1024 at most. The caller holds s.mu.
func (s *Store) index(seq uint64) {
	if len(s.order) >= 2*len(s.jobs)+1024 {
		s.compact()
	}
	s.order = append(s.order, seq)
	for i := len(s.order) - 1; i > 0 && s.order[i-1] > seq; i-- {
		s.order[i-1], s.order[i] = seq, s.order[i-1]
	}
}

// compact drops from s.order the seqs of requests the store no longer
// keeps. The caller holds s.mu.
func (s *Store) compact() {
	kept := s.order[:0]
	for _, seq := range s.order {
		if _, ok := s.jobs[seq]; ok {
			kept = append(kept, seq)
		}
	}
	clear(s.order[len(kept):])
	s.order = kept
}

// Older appends to dst up to n kept requests numbered below before, newest
// first, and returns it. It holds the store's lock only to find them: it
// costs O(log kept + n) plus the forgotten seqs it skips, which compaction
// keeps to at most as many as there are kept ones.
func (s *Store) Older(dst []*job.Job, before uint64, n int) []*job.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, _ := slices.BinarySearch(s.order, before)
	for i--; i >= 0 && n > 0; i-- {
		if r, ok := s.jobs[s.order[i]]; ok {
			dst = append(dst, r)
			n--
		}
	}
	return dst
}

// BySeq returns the request numbered seq, or nil if the store does not keep it.
func (s *Store) BySeq(seq uint64) *job.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[seq]
}

// Unfinished returns the IDs of the first max requests kept that have not
// reached a final state, in the order received, and how many more there
// are. It copies the requests under the store's lock and reads their states
// after releasing it, so it never holds two locks at once.
func (s *Store) Unfinished(max int) (ids []string, more int) {
	s.mu.Lock()
	reqs := make([]*job.Job, 0, len(s.jobs))
	for _, r := range s.jobs {
		reqs = append(reqs, r)
	}
	s.mu.Unlock()
	reqs = slices.DeleteFunc(reqs, func(r *job.Job) bool { return r.State().Final() })
	slices.SortFunc(reqs, func(a, b *job.Job) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, r := range reqs[:min(max, len(reqs))] {
		ids = append(ids, r.ID)
	}
	return ids, len(reqs) - len(ids)
}
