package store

import (
	"strconv"
	"testing"

	"workqueue/internal/job"
)

// TestStoreKeepsNewestFinished checks the ring: a store that keeps two
// finished requests forgets the oldest finished one, never a live one.
func TestStoreKeepsNewestFinished(t *testing.T) {
	s := New(2, nil)
	reqs := make([]*job.Job, 5)
	for i := range reqs {
		reqs[i] = &job.Job{ID: strconv.Itoa(i), Seq: uint64(i)}
		s.Add(reqs[i])
	}
	for _, i := range []int{3, 0, 4} {
		s.Finished(reqs[i])
	}
	for i, want := range []bool{true, true, true, false, true} {
		if got := s.Get(strconv.Itoa(i)) != nil; got != want {
			t.Errorf("after 3, 0, 4 finished: kept %d = %v, want %v", i, got, want)
		}
	}
	if s.Len() != 4 {
		t.Errorf("Len = %d, want 4: the two live and the two newest finished", s.Len())
	}
}

// TestStoreRetried checks a finished job made to run again leaves the ring
// of finished jobs: newer finished ones no longer push it out.
func TestStoreRetried(t *testing.T) {
	s := New(2, nil)
	reqs := make([]*job.Job, 4)
	for i := range reqs {
		reqs[i] = &job.Job{ID: strconv.Itoa(i), Seq: uint64(i)}
		s.Add(reqs[i])
	}
	s.Finished(reqs[0])
	s.Finished(reqs[1])
	s.Retried(reqs[0])
	s.Finished(reqs[2])
	s.Finished(reqs[3]) // pushes out 1, the oldest finished, not 0
	for i, want := range []bool{true, false, true, true} {
		if got := s.Get(strconv.Itoa(i)) != nil; got != want {
			t.Errorf("kept %d = %v, want %v", i, got, want)
		}
	}
}
