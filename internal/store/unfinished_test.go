package store

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"workqueue/internal/job"
)

// TestStoreUnfinished checks Unfinished lists the unfinished requests by
// number, not as strings sort ("10" before "9"), at most max of them, and
// counts the rest.
func TestStoreUnfinished(t *testing.T) {
	s := New(100, nil)
	for seq := uint64(1); seq <= 30; seq++ {
		r := &job.Job{ID: strconv.FormatUint(seq, 10), Seq: seq}
		s.Add(r)
		if seq%3 == 0 { // 3, 6, ..., 30 finish
			r.Cancel(time.Now())
			s.Finished(r)
		}
	}
	tests := []struct {
		name     string
		max      int
		wantIDs  []string
		wantMore int
	}{
		{"all", 100, []string{"1", "2", "4", "5", "7", "8", "10", "11", "13", "14", "16", "17", "19", "20", "22", "23", "25", "26", "28", "29"}, 0},
		{"first five", 5, []string{"1", "2", "4", "5", "7"}, 15},
		{"none", 0, nil, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, more := s.Unfinished(tt.max)
			if !slices.Equal(ids, tt.wantIDs) || more != tt.wantMore {
				t.Errorf("Unfinished(%d) = %q, %d; want %q, %d", tt.max, ids, more, tt.wantIDs, tt.wantMore)
			}
		})
	}
}
