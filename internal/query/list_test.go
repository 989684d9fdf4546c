package query

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/respond"
	"workqueue/internal/store"
	"workqueue/internal/testutil"
)

// FuzzListQuery checks GET /work's query parser never panics, answers
// every error with a 400, and every query it takes within bounds.
func FuzzListQuery(f *testing.F) {
	for _, q := range []string{"", "state=queued,running", "limit=1000", "before=7", "state=x", "limit=0", "before=07", "%", "a=b", "state=done&state=failed&limit=5&before=99"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseListQuery(raw)
		if err != nil {
			var he *respond.Refusal
			if !errors.As(err, &he) || he.Status != http.StatusBadRequest || he.Msg == "" {
				t.Fatalf("%q: error %v, want a 400 with a message", raw, err)
			}
			return
		}
		if q.limit < 1 || q.limit > maxListLimit || q.states >= 1<<(job.Failed+1) {
			t.Fatalf("%q: parsed to %+v, out of bounds", raw, q)
		}
	})
}

// BenchmarkList measures GET /work (the default 100 newest) on stores that
// keep 100 and 20,000 jobs (10,000 finished, 10,000 queued): its cost
// should not grow with the store.
func BenchmarkList(b *testing.B) {
	for _, kept := range []int{100, 20_000} {
		b.Run(fmt.Sprint("kept=", kept), func(b *testing.B) {
			jobs := store.New(10_000, nil)
			now := time.Now()
			for seq := uint64(1); seq <= uint64(kept); seq++ {
				r := &job.Job{ID: strconv.FormatUint(seq, 10), Seq: seq, Name: "bench", EnqueuedAt: now}
				jobs.Add(r)
				if seq%2 == 0 {
					r.Start(1, now, nil)
					r.Finish(job.Done, now, "")
					jobs.Finished(r)
				}
			}
			for _, query := range []string{"", "state=done"} {
				b.Run("query="+query, func(b *testing.B) {
					req, w := httptest.NewRequest("GET", "/work?"+query, nil), testutil.NewStatusRecorder()
					b.ReportAllocs()
					for b.Loop() {
						List(w, req, jobs)
					}
					if w.Status != http.StatusOK {
						b.Fatalf("status %d", w.Status)
					}
				})
			}
		})
	}
}
