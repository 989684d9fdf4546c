package main

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"testing/synctest"
)

// TestStoreBounded runs 30,000 quick jobs and checks that the oldest finished
// ones are forgotten: the store never holds more than the newest 10,000
// finished jobs plus those still queued or running.
func TestStoreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const jobs = 30_000
		cfg := testConfig()
		cfg.Queue = 1000
		ts := newTestServer(t, cfg, Sleep)
		most := 0
		for i := range jobs {
			if rec := ts.submit(fmt.Sprintf("j%d", i), ""); rec.Code != http.StatusCreated {
				t.Fatalf("POST j%d: status = %d, want 201", i, rec.Code)
			}
			if i%500 == 499 {
				synctest.Wait() // let the workers empty the queue
				most = max(most, ts.jobs.Len())
			}
		}
		if err := ts.drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := ts.jobs.Len(); n != finishedKept {
			t.Errorf("store holds %d jobs after the drain, want %d", n, finishedKept)
		}
		if most > finishedKept {
			t.Errorf("store held up to %d jobs with none queued or running, want at most %d", most, finishedKept)
		}
		for _, id := range []int{1, 2, jobs / 2} {
			if rec := ts.do("GET", "/work/"+strconv.Itoa(id), "", ""); rec.Code != http.StatusNotFound {
				t.Errorf("GET /work/%d (an old finished job): status = %d, want 404", id, rec.Code)
			}
		}
		for _, id := range []int{jobs - 100, jobs} {
			if j := ts.getJob(t, strconv.Itoa(id)); j.State != "done" {
				t.Errorf("job %d: state %q, want done", id, j.State)
			}
		}
	})
}
