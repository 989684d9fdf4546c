package store

import (
	"math"
	"slices"
	"strconv"
	"testing"

	"workqueue/internal/job"
)

// TestStoreIndex checks the store's ordered index: requests added out of
// order come out newest first, forgotten ones are skipped, and compaction
// keeps the index within twice the store's size plus its slack however
// many requests pass through.
func TestStoreIndex(t *testing.T) {
	s := New(10, nil)
	add := func(seq uint64) *job.Job {
		r := &job.Job{ID: strconv.FormatUint(seq, 10), Seq: seq}
		s.Add(r)
		return r
	}
	for _, seq := range []uint64{3, 1, 2, 5, 4} {
		add(seq)
	}
	s.Remove(s.Get("2"))
	var got []uint64
	for _, r := range s.Older(nil, math.MaxUint64, 10) {
		got = append(got, r.Seq)
	}
	if want := []uint64{5, 4, 3, 1}; !slices.Equal(got, want) {
		t.Errorf("Older after adding 3 1 2 5 4 and removing 2: %v, want %v", got, want)
	}
	for seq := uint64(6); seq < 100_000; seq++ {
		s.Finished(add(seq))
		if len(s.order) > 2*(len(s.jobs)+1)+1024 { // +1: a finish may forget one after the check
			t.Fatalf("after %d requests the index holds %d seqs for %d kept", seq, len(s.order), len(s.jobs))
		}
	}
	if !slices.IsSorted(s.order) {
		t.Error("the index is out of order")
	}
}
