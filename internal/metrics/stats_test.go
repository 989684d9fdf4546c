package metrics

import "testing"

// TestUnfinishedCountsRetried: a job that fails, is run again by POST
// /work/<id>/retry and is running is unfinished, so that a drain that gives
// up still knows it has a job to abandon.
func TestUnfinishedCountsRetried(t *testing.T) {
	s := NewStats()
	s.Accepted.Add(1)
	s.Failed.Add(1)
	if got := s.Unfinished(); got != 0 {
		t.Fatalf("after a failure: Unfinished = %d, want 0", got)
	}
	s.Retried.Add(1)
	if got := s.Unfinished(); got != 1 {
		t.Errorf("retried and running: Unfinished = %d, want 1", got)
	}
	s.Done.Add(1)
	if got := s.Unfinished(); got != 0 {
		t.Errorf("retried and done: Unfinished = %d, want 0", got)
	}
}
