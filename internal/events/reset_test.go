package events

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/testutil"
)

// keptJobs is a store's Older over jobs, which are in the order received:
// what a hub's Jobs lists.
func keptJobs(jobs []*job.Job) func(dst []*job.Job, before uint64, n int) []*job.Job {
	return func(dst []*job.Job, before uint64, n int) []*job.Job {
		for i := len(jobs) - 1; i >= 0 && n > 0; i-- {
			if jobs[i].Seq < before {
				dst = append(dst, jobs[i])
				n--
			}
		}
		return dst
	}
}

// threeJobs returns a done, a running and a queued job, numbered 1 to 3.
func threeJobs() []*job.Job {
	now := time.Now()
	jobs := []*job.Job{job.New("1", 1, "j1", 0, "", now, job.Policy{}), job.New("2", 2, "j2", 0, "", now, job.Policy{}), job.New("3", 3, "j3", 0, "", now, job.Policy{})}
	jobs[0].Start(1, now, func() {})
	jobs[0].Finish(job.Done, now, "")
	jobs[1].Start(2, now, func() {})
	return jobs
}

// opening returns the blocks a stream opened with Last-Event-ID lastID
// (none if "") sends up to the job event "sentinel" that the test publishes
// once the stream is open, each as "id|event|data", a job's data as
// "name:state".
func opening(t *testing.T, hub *Hub, url, lastID string) []string {
	t.Helper()
	r := testutil.OpenStream(t, url, lastID) // it returns once the stream has subscribed
	hub.Publish("job", []byte("sentinel"))
	var blocks []string
	for {
		blocks = append(blocks, block(t, r))
		if strings.HasSuffix(blocks[len(blocks)-1], "|job|sentinel") {
			return blocks
		}
	}
}

// block reads the next block of r as "id|event|data", a job's data as
// "name:state".
func block(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	ev, err := testutil.ReadEvent(r)
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	if ev.Event == "job" && strings.HasPrefix(ev.Data, "{") {
		var j job.View
		if err := json.Unmarshal([]byte(ev.Data), &j); err != nil {
			t.Fatalf("job event data %q: %v", ev.Data, err)
		}
		ev.Data = j.Name + ":" + j.State
	}
	return ev.ID + "|" + ev.Event + "|" + ev.Data
}

// TestEventsResumeOrReset opens streams with a Last-Event-ID of this life,
// of another life, malformed, from the future and from before what the
// ring keeps: one of this life whose followers are kept resumes after it;
// every other gets "event: reset" first, then the state (the kept jobs,
// newest first, with no id), then the newest id, then what follows.
func TestEventsResumeOrReset(t *testing.T) {
	const life, otherLife = 0x5eed, 0xfeed
	this := func(n uint64) string { return lifePrefix(life) + strconv.FormatUint(n, 10) }
	reset := func(why string, last uint64) []string {
		return []string{"||", `|reset|{"reason":"` + why + `"}`, "|job|j3:queued", "|job|j2:running", "|job|j1:done", this(last) + "||", this(last+1) + "|job|sentinel"}
	}
	tests := []struct {
		name      string
		published uint64 // job events before the stream opens
		lastID    string
		want      []string
	}{
		{"none given: from now", 5, "", []string{this(5) + "||", this(6) + "|job|sentinel"}},
		{"this life: the events after it", 5, this(2), []string{"||", this(3) + "|job|3", this(4) + "|job|4", this(5) + "|job|5", this(6) + "|job|sentinel"}},
		{"this life: none missed", 5, this(5), []string{"||", this(6) + "|job|sentinel"}},
		{"this life, before any event", 0, this(0), []string{"||", this(1) + "|job|sentinel"}},
		{"this life: the whole ring", eventsKept + 5, this(5), nil}, // checked by count below
		{"another life", 5, lifePrefix(otherLife) + "3", reset(resetOtherLife, 5)},
		{"another life, before any event", 5, lifePrefix(otherLife) + "0", reset(resetOtherLife, 5)},
		{"from the future", 5, this(6), reset(resetNever, 5)},
		{"from far in the future", 5, this(1 << 63), reset(resetNever, 5)},
		{"pushed out of the ring", eventsKept + 5, this(4), reset(resetNotKept, eventsKept+5)},
		{"a bare number (the ids of old)", 5, "3", reset(resetNever, 5)},
		{"malformed: no number", 5, lifePrefix(life), reset(resetNever, 5)},
		{"malformed: a leading zero", 5, this(0) + "3", reset(resetNever, 5)},
		{"malformed: a sign", 5, lifePrefix(life) + "+3", reset(resetNever, 5)},
		{"malformed: past uint64", 5, lifePrefix(life) + "18446744073709551616", reset(resetNever, 5)},
		{"malformed: upper-case life", 5, strings.ToUpper(lifePrefix(0xabc)) + "3", reset(resetNever, 5)},
		{"malformed: a short life", 5, "5eed-3", reset(resetNever, 5)},
		{"malformed: text", 5, "yesterday", reset(resetNever, 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := newHub(life, nil)
			hub.Jobs = keptJobs(threeJobs())
			srv := httptest.NewServer(hub)
			defer srv.Close()
			defer hub.Close()
			for i := range tt.published {
				hub.Publish("job", []byte(strconv.FormatUint(i+1, 10)))
			}
			got := opening(t, hub, srv.URL, tt.lastID)
			if tt.want == nil { // the whole ring resumed: eventsKept job events, then the sentinel
				if len(got) != 2+eventsKept || got[0] != "||" || got[1] != this(6)+"|job|6" {
					t.Fatalf("Last-Event-ID %q: %d blocks starting %q, want the %d kept after it", tt.lastID, len(got), got[:min(len(got), 2)], eventsKept)
				}
				return
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Last-Event-ID %q: stream opens\n\t%s\nwant\n\t%s", tt.lastID, strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

// TestEventsResetStateInPages checks that the state after a reset lists
// every kept job once, newest first, however many pages of Jobs it takes,
// and that a hub without Jobs sends the reset and the newest id alone.
func TestEventsResetStateInPages(t *testing.T) {
	for _, kept := range []int{0, 1, takeMax - 1, takeMax, takeMax + 1, 3*takeMax + 7} {
		t.Run(fmt.Sprintf("%d jobs", kept), func(t *testing.T) {
			hub := New(nil)
			var jobs []*job.Job
			for i := range kept {
				jobs = append(jobs, job.New(strconv.Itoa(i+1), uint64(i+1), "n"+strconv.Itoa(i+1), 0, "", time.Now(), job.Policy{}))
			}
			if kept > 0 {
				hub.Jobs = keptJobs(jobs)
			}
			srv := httptest.NewServer(hub)
			defer srv.Close()
			defer hub.Close()
			hub.Publish("job", []byte("1"))
			got := opening(t, hub, srv.URL, "another")
			want := []string{"||", `|reset|{"reason":"never given"}`}
			for i := kept; i > 0; i-- {
				want = append(want, "|job|n"+strconv.Itoa(i)+":queued")
			}
			want = append(want, idOf(hub, 1)+"||", idOf(hub, 2)+"|job|sentinel")
			if !slices.Equal(got, want) {
				t.Errorf("stream opens with %d blocks, want %d:\n\t%s", len(got), len(want), strings.Join(got[:min(len(got), 8)], "\n\t"))
			}
		})
	}
}

// TestEventsResetThenLive checks a reset stream against the jobs' changes
// that follow it: they come as job events of this life, after the state.
func TestEventsResetThenLive(t *testing.T) {
	hub := New(nil)
	jobs := threeJobs()
	hub.Jobs = keptJobs(jobs)
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()
	r := testutil.OpenStream(t, srv.URL, "0123456789abcdef-3")
	for _, want := range []string{"||", `|reset|{"reason":"another life"}`, "|job|j3:queued", "|job|j2:running", "|job|j1:done", idOf(hub, 0) + "||"} {
		if got := block(t, r); got != want {
			t.Fatalf("block = %q, want %q", got, want)
		}
	}
	jobs[2].Start(3, time.Now(), func() {})
	hub.PublishJob(jobs[2])
	if got, want := block(t, r), idOf(hub, 1)+"|job|j3:running"; got != want {
		t.Fatalf("after the state: %q, want %q", got, want)
	}
}

// TestEventsLives checks that two hubs, two lives of a server, give ids
// that differ, and that each reads the other's as of another life.
func TestEventsLives(t *testing.T) {
	a, b := New(nil), New(nil)
	if a.life == b.life {
		t.Fatalf("two hubs have the same life %q", a.life)
	}
	for _, n := range []uint64{0, 1, 1 << 40} {
		if _, why := b.parseID(idOf(a, n)); why != resetOtherLife {
			t.Errorf("hub b reads hub a's id %s: reset %q, want %q", idOf(a, n), why, resetOtherLife)
		}
		if got, why := a.parseID(idOf(a, n)); got != n || why != "" {
			t.Errorf("hub a reads its own id %s: %d, %q; want %d, no reset", idOf(a, n), got, why, n)
		}
	}
}
