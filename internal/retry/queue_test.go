package retry

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"workqueue/internal/job"
)

// TestBackoff checks the waits between attempts, exactly, jitter included.
func TestBackoff(t *testing.T) {
	for _, tt := range []struct {
		name    string
		attempt int
		jitter  float64
		want    time.Duration
	}{
		{"first", 1, 0, time.Second},
		{"second", 2, 0, 2 * time.Second},
		{"third", 3, 0, 4 * time.Second},
		{"sixth", 6, 0, 32 * time.Second},
		{"seventh is capped", 7, 0, time.Minute},
		{"hundredth is capped", 100, 0, time.Minute},
		{"attempt 0 as 1", 0, 0, time.Second},
		{"jitter +1", 1, 1, 1200 * time.Millisecond},
		{"jitter -1", 1, -1, 800 * time.Millisecond},
		{"jitter +0.5", 3, 0.5, 4400 * time.Millisecond},
		{"jitter clamped", 1, 7, 1200 * time.Millisecond},
		{"cap before jitter", 100, 1, 72 * time.Second},
		{"cap before jitter, down", 100, -1, 48 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Backoff(tt.attempt, tt.jitter); got != tt.want {
				t.Errorf("Backoff(%d, %v) = %v, want %v", tt.attempt, tt.jitter, got, tt.want)
			}
		})
	}
}

// handOffs records what a RetryQueue hands to due, and when on the fake
// clock, as "id@elapsed".
type handOffs struct {
	start time.Time
	mu    sync.Mutex // guards got
	got   []string
}

func (h *handOffs) due(r *job.Job) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, fmt.Sprintf("%s@%v", r.ID, time.Since(h.start)))
}

// check fails t unless the hand-offs so far are want.
func (h *handOffs) check(t *testing.T, want ...string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Equal(h.got, want) {
		t.Errorf("handed to due: %q, want %q", h.got, want)
	}
}

// ids returns the requests' ids.
func ids(rs []*job.Job) []string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.ID
	}
	return s
}

// TestRetryQueueOrder checks that requests are handed over in due order, ties
// in the order added, each at exactly its time.
func TestRetryQueueOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &handOffs{start: time.Now()}
		q := NewQueue(h.due)
		defer q.Stop()
		for _, e := range []struct {
			id string
			at time.Duration
		}{{"c", 3 * time.Second}, {"a", time.Second}, {"b", 2 * time.Second}, {"b2", 2 * time.Second}} {
			q.Add(&job.Job{ID: e.id}, h.start.Add(e.at))
		}
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		h.check(t, "a@1s")
		if got := q.Len(); got != 3 {
			t.Errorf("Len at 1.5s = %d, want 3", got)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		h.check(t, "a@1s", "b@2s", "b2@2s", "c@3s")
		if got := q.Len(); got != 0 {
			t.Errorf("Len at the end = %d, want 0", got)
		}
	})
}

// TestRetryQueueEarlier checks that a request added with an earlier time than
// all others is handed over first, at its time.
func TestRetryQueueEarlier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &handOffs{start: time.Now()}
		q := NewQueue(h.due)
		defer q.Stop()
		q.Add(&job.Job{ID: "late"}, h.start.Add(10*time.Second))
		time.Sleep(time.Second)
		q.Add(&job.Job{ID: "early"}, h.start.Add(2*time.Second))
		q.Add(&job.Job{ID: "past"}, h.start)
		time.Sleep(time.Minute)
		synctest.Wait()
		h.check(t, "past@1s", "early@2s", "late@10s")
	})
}

// TestRetryQueueRemove checks that a removed request is never handed over,
// and that adding a waiting request again moves it.
func TestRetryQueueRemove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &handOffs{start: time.Now()}
		q := NewQueue(h.due)
		defer q.Stop()
		a, b, c := &job.Job{ID: "a"}, &job.Job{ID: "b"}, &job.Job{ID: "c"}
		q.Add(a, h.start.Add(time.Second))
		q.Add(b, h.start.Add(2*time.Second))
		q.Add(c, h.start.Add(3*time.Second))
		q.Add(a, h.start.Add(4*time.Second))
		if !q.Remove(b) {
			t.Errorf("Remove(b) = false, want true")
		}
		if q.Remove(b) {
			t.Errorf("Remove(b) again = true, want false")
		}
		if got := q.Len(); got != 2 {
			t.Errorf("Len = %d, want 2", got)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		h.check(t, "c@3s", "a@4s")
		if q.Remove(a) {
			t.Errorf("Remove(a) once handed over = true, want false")
		}
	})
}

// TestRetryQueueAddFromDue checks that due may add requests, as a worker whose
// retry failed again does: one due at once is handed over in the same round.
func TestRetryQueueAddFromDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &handOffs{start: time.Now()}
		var q *Queue
		attempts := 0
		q = NewQueue(func(r *job.Job) {
			h.due(r)
			if r.ID == "a" && attempts < 2 {
				attempts++
				q.Add(r, time.Now().Add(time.Duration(attempts)*time.Second))
				q.Add(&job.Job{ID: fmt.Sprint("now", attempts)}, time.Now())
			}
		})
		defer q.Stop()
		q.Add(&job.Job{ID: "a"}, h.start.Add(time.Second))
		time.Sleep(time.Minute)
		synctest.Wait()
		h.check(t, "a@1s", "now1@1s", "a@2s", "now2@2s", "a@4s")
	})
}

// TestRetryQueueSchedule checks that Schedule waits the backoff of the
// attempt, with the jitter its source gives.
func TestRetryQueueSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &handOffs{start: time.Now()}
		q := NewQueue(h.due)
		defer q.Stop()
		q.rng = rand.New(rand.NewPCG(1, 2))
		twin := rand.New(rand.NewPCG(1, 2))
		want := Backoff(3, 2*twin.Float64()-1)
		if at := q.Schedule(&job.Job{ID: "a"}, 3); at.Sub(h.start) != want {
			t.Errorf("Schedule(r, 3) = now+%v, want now+%v", at.Sub(h.start), want)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		h.check(t, fmt.Sprintf("a@%v", want))
	})
}

// TestRetryQueueDrain checks Stop, DueNow and Pending as the drain uses them:
// nothing is handed over after Stop; DueNow takes what is due, in order, and
// Pending shows the rest.
func TestRetryQueueDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &handOffs{start: time.Now()}
		q := NewQueue(h.due)
		for i, id := range []string{"a", "b", "c", "d"} {
			q.Add(&job.Job{ID: id}, h.start.Add(time.Duration(i+1)*time.Second))
		}
		time.Sleep(1500 * time.Millisecond)
		q.Stop()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		h.check(t, "a@1s")
		if got, want := ids(q.DueNow()), []string{"b", "c"}; !slices.Equal(got, want) {
			t.Errorf("DueNow at 3.5s = %q, want %q", got, want)
		}
		if got, want := ids(first(q.Pending())), []string{"d"}; !slices.Equal(got, want) {
			t.Errorf("Pending = %q, want %q", got, want)
		}
		if got := q.Len(); got != 1 {
			t.Errorf("Len = %d, want 1", got)
		}
	})
}

// TestRetryQueueStopWaitsForDue checks that Stop returns only once due has,
// and that nothing more is handed over after it.
func TestRetryQueueStopWaitsForDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		h := &handOffs{start: time.Now()}
		q := NewQueue(func(r *job.Job) {
			h.due(r)
			<-release
		})
		q.Add(&job.Job{ID: "a"}, h.start.Add(time.Second))
		q.Add(&job.Job{ID: "b"}, h.start.Add(time.Second))
		time.Sleep(time.Second)
		synctest.Wait() // due holds a
		stopped := make(chan struct{})
		go func() {
			q.Stop()
			close(stopped)
		}()
		synctest.Wait()
		select {
		case <-stopped:
			t.Fatalf("Stop returned while due was running")
		default:
		}
		close(release)
		<-stopped
		h.check(t, "a@1s")
		if got, want := ids(first(q.Pending())), []string{"b"}; !slices.Equal(got, want) {
			t.Errorf("Pending = %q, want %q", got, want)
		}
	})
}

// first returns its first argument: the retries of Pending.
func first(retries, _ []*job.Job) []*job.Job { return retries }
