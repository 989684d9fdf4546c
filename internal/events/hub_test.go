package events

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/queue"
	"workqueue/internal/respond"
	"workqueue/internal/testutil"
)

func TestEventsArriveInOrder(t *testing.T) {
	hub := New(nil)
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()
	r := testutil.OpenStream(t, srv.URL, "")
	first, err := testutil.ReadEvent(r)
	if want := idOf(hub, 0); err != nil || first.ID != want {
		t.Fatalf("first block = %+v, %v; want id %s (nothing published yet)", first, err, want)
	}
	for i := range 5 {
		hub.Publish("job", []byte(`{"n":`+strconv.Itoa(i)+`}`))
	}
	for i := range 5 {
		ev := testutil.NextOf(t, r, "job")
		if want := idOf(hub, uint64(i+1)); ev.ID != want {
			t.Errorf("event %d: id = %q, want %q", i, ev.ID, want)
		}
		if want := `{"n":` + strconv.Itoa(i) + `}`; ev.Data != want {
			t.Errorf("event %d: data = %q, want %q", i, ev.Data, want)
		}
	}
}

func TestEventsResume(t *testing.T) {
	tests := []struct {
		name         string
		published    int
		last         uint64
		wantFirst    uint64 // id of the first missed event; 0 if none
		wantN        int
		wantComplete bool
	}{
		{"from the start", 5, 0, 1, 5, true},
		{"some missed", 5, 3, 4, 2, true},
		{"none missed", 5, 5, 0, 0, true},
		{"a number not reached yet", 5, 99, 0, 0, false},
		{"the whole ring", eventsKept + 5, 5, 6, eventsKept, true},
		{"pushed out of the ring", eventsKept + 5, 4, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := New(nil)
			defer hub.Close()
			for i := range tt.published {
				hub.Publish("job", []byte(strconv.Itoa(i+1)))
			}
			last, complete, sub := hub.subscribe(tt.last, true, nil)
			defer hub.unsubscribe(sub)
			missed := takeAll(hub, sub)
			if last != uint64(tt.published) {
				t.Errorf("last = %d, want %d", last, tt.published)
			}
			if complete != tt.wantComplete || len(missed) != tt.wantN {
				t.Fatalf("subscribe(%d): %d missed, complete %v; want %d, %v", tt.last, len(missed), complete, tt.wantN, tt.wantComplete)
			}
			for i, ev := range missed {
				if want := tt.wantFirst + uint64(i); ev.ID != want || string(ev.Data) != strconv.FormatUint(want, 10) {
					t.Fatalf("missed[%d] = id %d data %q, want id %d", i, ev.ID, ev.Data, want)
				}
			}
		})
	}
}

// takeAll returns every job event sub has pending, oldest first.
func takeAll(hub *Hub, sub *Subscription) []Event {
	var all []Event
	buf := make([]Event, 0, takeMax)
	for more := true; more; {
		buf, _, more = hub.take(sub, buf[:0])
		all = append(all, buf...)
	}
	return all
}

func TestEventsResumeOverHTTP(t *testing.T) {
	hub := New(nil)
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()
	for i := range 5 {
		hub.Publish("job", []byte(strconv.Itoa(i+1)))
	}
	r := testutil.OpenStream(t, srv.URL, idOf(hub, 2))
	for _, want := range []uint64{3, 4, 5} {
		if ev := testutil.NextOf(t, r, "job"); ev.ID != idOf(hub, want) || ev.Data != strconv.FormatUint(want, 10) {
			t.Fatalf("event = id %q data %q, want id %s data %d", ev.ID, ev.Data, idOf(hub, want), want)
		}
	}
}

// idOf returns the SSE id of hub's job event n.
func idOf(hub *Hub, n uint64) string { return string(hub.appendID(nil, n)) }

func TestEventsAppendEvent(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"job", Event{ID: 7, Kind: "job", Data: []byte(`{"id":"3"}`)}, "id: 00000000c0ffee17-7\nevent: job\ndata: {\"id\":\"3\"}\n\n"},
		{"stats has no id", Event{Kind: "stats", Data: []byte(`{}`)}, "event: stats\ndata: {}\n\n"},
		{"lines of data", Event{ID: 1, Kind: "job", Data: []byte("a\nb")}, "id: 00000000c0ffee17-1\nevent: job\ndata: a\ndata: b\n\n"},
	}
	hub := newHub(0xc0ffee17, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(hub.appendEvent(nil, tt.ev)); got != tt.want {
				t.Errorf("appendEvent = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEventsStuckSubscriberIsDropped(t *testing.T) {
	hub := New(nil)
	srv, closed := testutil.StuckServer(t, hub)
	defer srv.Close()
	defer hub.Close()
	before := runtime.NumGoroutine()

	conn := testutil.DialStuck(t, srv.Listener.Addr().String())
	defer conn.Close()
	testutil.WaitFor(t, "the stuck client to subscribe", func() bool { return hub.Subscribers() == 1 })

	data := bytes.Repeat([]byte("x"), 1024)
	for range 20_000 { // 20 MiB: far more than the socket buffers hold
		hub.Publish("job", data) // a Publish that blocked would hang the test here
	}
	if got := hub.Dropped(); got != 1 {
		t.Fatalf("after 20,000 publishes: %d subscribers dropped, want 1", got)
	}
	if got := hub.Subscribers(); got != 0 {
		t.Errorf("after the drop: %d subscribers, want 0", got)
	}

	testutil.WaitClosed(t, closed)
	conn.Close()
	testutil.WaitFor(t, fmt.Sprintf("goroutines back to %d", before), func() bool { return runtime.NumGoroutine() <= before })
}

func TestEventsCloseEndsStreams(t *testing.T) {
	hub := New(nil)
	srv := httptest.NewServer(hub)
	defer srv.Close()
	streams := []*bufio.Reader{testutil.OpenStream(t, srv.URL, ""), testutil.OpenStream(t, srv.URL, "")}
	for _, r := range streams {
		if _, err := testutil.ReadEvent(r); err != nil {
			t.Fatalf("first block: %v", err)
		}
	}
	hub.Close()
	for i, r := range streams {
		if rest, err := io.ReadAll(r); err != nil {
			t.Errorf("stream %d after Close: %v (read %q), want a clean end", i, err, rest)
		}
	}
	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /events after Close: status = %d, want 503", resp.StatusCode)
	}
}

// streamRecorder is a ResponseWriter that records a stream, for tests in a
// synctest bubble, where no real connection can be.
type streamRecorder struct {
	header http.Header
	mu     sync.Mutex // guards b and writes
	b      bytes.Buffer
	writes int // Write calls
}

func (s *streamRecorder) Header() http.Header { return s.header }
func (s *streamRecorder) WriteHeader(int)     {}
func (s *streamRecorder) Flush()              {}

func (s *streamRecorder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

// Writes returns how many Write calls the stream made.
func (s *streamRecorder) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

func (s *streamRecorder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveInBubble runs hub.ServeHTTP for a GET /events until the returned
// function is called, which waits for it to return.
func serveInBubble(hub *Hub) (*streamRecorder, func()) {
	rec := &streamRecorder{header: make(http.Header)}
	return rec, serveTo(hub, rec, "")
}

// serveTo runs hub.ServeHTTP for a GET /events with the given Last-Event-ID
// (none if empty), writing to w, until the returned function is called,
// which waits for it to return.
func serveTo(hub *Hub, w http.ResponseWriter, lastID string) func() {
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, "GET", "/events", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		hub.ServeHTTP(w, req)
	}()
	return func() { cancel(); <-done }
}

// gatedRecorder is a streamRecorder whose every Write first takes a value
// from gate (or finds it closed): a client that reads only when the test
// lets it.
type gatedRecorder struct {
	streamRecorder
	gate chan struct{}
}

func newGatedRecorder(gate chan struct{}) *gatedRecorder {
	return &gatedRecorder{streamRecorder: streamRecorder{header: make(http.Header)}, gate: gate}
}

func (g *gatedRecorder) Write(p []byte) (int, error) {
	<-g.gate
	return g.streamRecorder.Write(p)
}

// jobIDs returns the numbers of the job events in a recorded stream (their
// ids less the life), failing the test if an event's data is not its
// number (as the tests below publish them): an event from an overwritten
// slot of the ring would show.
func jobIDs(t *testing.T, stream string) []int {
	t.Helper()
	var ids []int
	r := bufio.NewReader(strings.NewReader(stream))
	for {
		ev, err := testutil.ReadEvent(r)
		if err == io.EOF {
			return ids
		}
		if err != nil {
			t.Fatalf("reading the recorded stream: %v", err)
		}
		if ev.Event != "job" {
			continue
		}
		_, n, _ := strings.Cut(ev.ID, "-")
		if n != ev.Data {
			t.Fatalf("job event id %q carries data %q, want %q", ev.ID, ev.Data, n)
		}
		id, _ := strconv.Atoi(n)
		ids = append(ids, id)
	}
}

// checkConsecutive fails the test unless ids are exactly 1, 2, ... n.
func checkConsecutive(t *testing.T, ids []int, n int) {
	t.Helper()
	if len(ids) != n {
		t.Fatalf("%d job events sent, want %d", len(ids), n)
	}
	for i, id := range ids {
		if id != i+1 {
			t.Fatalf("job event %d sent has id %d, want %d (in order, none missing)", i, id, i+1)
		}
	}
}

// TestEventsTooFarBehindIsDropped checks that a subscriber is dropped by
// the publish that overwrites the event it has to send next, not one
// before, and that it is never sent an event from an overwritten slot.
func TestEventsTooFarBehindIsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := New(nil)
		for id := 1; id <= 100; id++ {
			hub.Publish("job", []byte(strconv.Itoa(id)))
		}
		gate := make(chan struct{})
		rec := newGatedRecorder(gate)
		stop := serveTo(hub, rec, idOf(hub, 0)) // its first write holds events 1 to 100, and blocks
		synctest.Wait()
		for id := 101; id <= 100+eventsKept; id++ { // the ring now holds 101 to 10,100: just its next
			hub.Publish("job", []byte(strconv.Itoa(id)))
		}
		if got := hub.Dropped(); got != 0 {
			t.Fatalf("%d behind, its next event still in the ring: %d subscribers dropped, want 0", eventsKept, got)
		}
		hub.Publish("job", []byte(strconv.Itoa(101+eventsKept))) // overwrites 101
		if got, subs := hub.Dropped(), hub.Subscribers(); got != 1 || subs != 0 {
			t.Fatalf("its next event overwritten: %d dropped, %d subscribers; want 1, 0", got, subs)
		}
		close(gate) // the client reads again
		stop()
		checkConsecutive(t, jobIDs(t, rec.String()), 100)
	})
}

// TestEventsSlowSubscriberGetsEverything checks that a subscriber whose
// client reads slowly but stays within the ring gets every job event once,
// in order, and is not dropped.
func TestEventsSlowSubscriberGetsEverything(t *testing.T) {
	tests := []struct {
		name         string
		total, burst int // job events published; the client reads one write after each burst
	}{
		{"stuck for a whole ring", eventsKept, eventsKept},
		{"one write per burst, the ring wrapped twice", 3 * eventsKept, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				hub := New(nil)
				gate := make(chan struct{}, tt.total/tt.burst+1)
				gate <- struct{}{} // the opening
				rec := newGatedRecorder(gate)
				stop := serveTo(hub, rec, "")
				defer stop()
				synctest.Wait()
				for id := 1; id <= tt.total; id++ {
					hub.Publish("job", []byte(strconv.Itoa(id)))
					if id%tt.burst == 0 && id < tt.total {
						gate <- struct{}{}
						time.Sleep(lingerFor) // the fake clock moves only when the test waits
						synctest.Wait()
					}
				}
				if sent := len(jobIDs(t, rec.String())); sent > tt.total-tt.burst {
					t.Fatalf("%d of %d job events sent before the last burst was let through, want at most %d: the client was not slow", sent, tt.total, tt.total-tt.burst)
				}
				close(gate)
				time.Sleep(2 * lingerFor)
				synctest.Wait()
				if got := hub.Dropped(); got != 0 {
					t.Fatalf("%d subscribers dropped, want 0", got)
				}
				checkConsecutive(t, jobIDs(t, rec.String()), tt.total)
			})
		})
	}
}

// TestEventsPublishNeverBlocks publishes to three subscribers whose clients
// never read: every Publish returns (synctest fails a test whose goroutines
// all block), and they are dropped exactly when the ring overwrites their
// next event.
func TestEventsPublishNeverBlocks(t *testing.T) {
	tests := []struct {
		name        string
		published   int
		wantDropped int64
	}{
		{"a ring's worth", eventsKept, 0},
		{"one more than the ring", eventsKept + 1, 3},
		{"three rings", 3 * eventsKept, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				hub := New(nil)
				gate := make(chan struct{}) // never given a value: every opening write blocks
				var stops []func()
				for range 3 {
					stops = append(stops, serveTo(hub, newGatedRecorder(gate), ""))
				}
				synctest.Wait()
				if got := hub.Subscribers(); got != 3 {
					t.Fatalf("%d subscribers, want 3", got)
				}
				for id := 1; id <= tt.published; id++ {
					hub.Publish("job", []byte(strconv.Itoa(id)))
				}
				if got := hub.Dropped(); got != tt.wantDropped {
					t.Errorf("after %d publishes: %d subscribers dropped, want %d", tt.published, got, tt.wantDropped)
				}
				close(gate)
				for _, stop := range stops {
					stop()
				}
			})
		})
	}
}

// TestEventsEndAtClose checks that a subscription the hub closed still
// has the job events published before Close, and none published after, so
// that its stream ends.
func TestEventsEndAtClose(t *testing.T) {
	hub := New(nil)
	_, _, sub := hub.subscribe(0, false, nil)
	for id := 1; id <= 5; id++ {
		if id == 4 {
			hub.Close()
		}
		hub.Publish("job", []byte(strconv.Itoa(id)))
	}
	select {
	case <-sub.Done():
	default:
		t.Fatal("the subscription is not done after Close")
	}
	var ids []uint64
	for _, ev := range takeAll(hub, sub) {
		ids = append(ids, ev.ID)
	}
	if got, want := fmt.Sprint(ids), "[1 2 3]"; got != want {
		t.Errorf("job events left after Close = %s, want %s", got, want)
	}
	if sub.Dropped() {
		t.Error("a subscription ended by Close reads as dropped")
	}
}

// TestEventsStatsNewestWaits checks that a subscriber gets a stats event
// once a second, and that one that has not taken them finds only the
// newest.
func TestEventsStatsNewestWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int64
		hub := New(func() []byte { return []byte(`{"n":` + strconv.FormatInt(n.Add(1), 10) + `}`) })
		_, _, sub := hub.subscribe(0, false, nil)
		defer hub.unsubscribe(sub)
		time.Sleep(3*statsEvery - time.Millisecond)
		synctest.Wait()
		select {
		case <-sub.Notify():
		default:
			t.Fatal("no wake after the stats events")
		}
		_, stats, _ := hub.take(sub, nil)
		if got, want := string(stats), `{"n":2}`; got != want {
			t.Errorf("stats after %v = %s, want %s (the newest of two)", 3*statsEvery-time.Millisecond, got, want)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if _, stats, _ = hub.take(sub, nil); string(stats) != `{"n":3}` {
			t.Errorf("stats after %v = %s, want {\"n\":3}", 3*statsEvery, stats)
		}
		if _, stats, _ = hub.take(sub, nil); stats != nil {
			t.Errorf("stats taken twice: %s, want nil", stats)
		}
	})
}

func TestEventsKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := New(nil)
		rec, stop := serveInBubble(hub)
		defer stop()
		time.Sleep(keepAliveEvery - time.Millisecond)
		synctest.Wait()
		if strings.Contains(rec.String(), "keep-alive") {
			t.Fatalf("a keep-alive before %v: %q", keepAliveEvery, rec.String())
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := strings.Count(rec.String(), ": keep-alive\n\n"); got != 1 {
			t.Fatalf("after %v: %d keep-alive comments, want 1 in %q", keepAliveEvery, got, rec.String())
		}
	})
}

// TestEventsLinger checks that a burst of job events goes out in one write:
// the stream waits lingerFor after the first before it writes.
func TestEventsLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := New(nil)
		rec, stop := serveInBubble(hub)
		defer stop()
		synctest.Wait()
		before := rec.Writes() // the stream's opening
		r := &job.Job{ID: "1", Name: "Alice", EnqueuedAt: time.Now()}
		hub.PublishJob(r)
		synctest.Wait()
		if got := rec.Writes(); got != before {
			t.Fatalf("the first event of a burst was written at once (%d writes, want %d): the stream did not wait for the rest", got, before)
		}
		for range 99 {
			hub.PublishJob(r)
		}
		time.Sleep(lingerFor)
		synctest.Wait()
		if got := strings.Count(rec.String(), "event: job\n"); got != 100 {
			t.Fatalf("after %v: %d job events written, want 100", lingerFor, got)
		}
		if got := rec.Writes() - before; got != 1 {
			t.Errorf("100 job events published in a burst went out in %d writes, want 1", got)
		}
	})
}

func TestEventsStatsTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int64
		hub := New(func() []byte { return []byte(`{"n":` + strconv.FormatInt(n.Add(1), 10) + `}`) })
		rec, stop := serveInBubble(hub)
		synctest.Wait()
		for want := 1; want <= 3; want++ {
			if got := strings.Count(rec.String(), "event: stats\n"); got != want {
				t.Fatalf("after %d s: %d stats events, want %d", want-1, got, want)
			}
			if !strings.Contains(rec.String(), `data: {"n":`+strconv.Itoa(want)+"}\n") {
				t.Fatalf("stats event %d missing from %q", want, rec.String())
			}
			time.Sleep(statsEvery)
			synctest.Wait()
		}
		stop()
		// The hub's stats goroutine ends with its last subscriber: the
		// bubble would not end otherwise.
	})
}

func BenchmarkPublishNoSubscriber(b *testing.B) {
	hub := New(nil)
	defer hub.Close()
	data := []byte(`{"id":"17","name":"Alice","delay":"0s","state":"done"}`)
	for b.Loop() {
		hub.Publish("job", data)
	}
}

func BenchmarkPublishJobNoSubscriber(b *testing.B) {
	hub := New(nil)
	defer hub.Close()
	r := &job.Job{ID: "17", Name: "Alice", EnqueuedAt: time.Now()}
	for b.Loop() {
		hub.PublishJob(r)
	}
}

// BenchmarkPublishOneSubscriber publishes to one subscriber that keeps up:
// every 128 events the publisher waits for it to catch up, so it is never
// dropped.
func BenchmarkPublishOneSubscriber(b *testing.B) {
	hub := New(nil)
	defer hub.Close()
	_, _, sub := hub.subscribe(0, false, nil)
	caughtUp := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		evs := make([]Event, 0, takeMax)
		for {
			select {
			case <-sub.Notify():
			case <-sub.Done():
				return
			}
			for more := true; more; {
				evs, _, more = hub.take(sub, evs[:0])
				for i := range evs {
					if evs[i].ID%128 == 0 {
						caughtUp <- struct{}{}
					}
				}
			}
		}
	})
	data := []byte(`{"id":"17","name":"Alice","delay":"0s","state":"done"}`)
	var n uint64
	for b.Loop() {
		hub.Publish("job", data)
		if n++; n%128 == 0 {
			<-caughtUp
		}
	}
	b.StopTimer()
	if d := hub.Dropped(); d != 0 {
		b.Fatalf("%d subscribers dropped, want 0", d)
	}
	hub.unsubscribe(sub)
	wg.Wait()
}

func TestPublishJobMatchesTheAPI(t *testing.T) {
	at := time.Date(2026, 11, 28, 10, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name   string
		change func(r *job.Job)
	}{
		{"queued", func(r *job.Job) {}},
		{"running", func(r *job.Job) { r.Start(3, at.Add(time.Millisecond), func() {}) }},
		{"done", func(r *job.Job) {
			r.Start(3, at.Add(time.Millisecond), func() {})
			r.Finish(job.Done, at.Add(time.Second), "")
		}},
		{"failed", func(r *job.Job) {
			r.Start(1, at, func() {})
			r.Finish(job.Failed, at.Add(time.Second), "panic: \"boom\"\nnext line")
		}},
		{"canceled", func(r *job.Job) { r.Cancel(at.Add(time.Minute)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &job.Job{ID: "17", Name: "<img src=x onerror=alert(1)> \u2603", Delay: 1500 * time.Millisecond, EnqueuedAt: at}
			tt.change(r)
			hub := New(nil)
			hub.PublishJob(r)
			_, _, sub := hub.subscribe(0, true, nil)
			missed := takeAll(hub, sub)
			hub.unsubscribe(sub)
			j := r.Snapshot()
			want := strings.TrimSuffix(string(respond.AppendJob(nil, &j)), "\n")
			if len(missed) != 1 {
				t.Fatalf("%d events published, want 1", len(missed))
			}
			if got := string(missed[0].AppendData(nil)); got != want {
				t.Errorf("job event data = %s, want %s", got, want)
			}
			if got, want := string(hub.appendEvent(nil, missed[0])), "id: "+idOf(hub, 1)+"\nevent: job\ndata: "+want+"\n\n"; got != want {
				t.Errorf("job event = %q, want %q", got, want)
			}
		})
	}
}

func TestEventsOfAJobOverHTTP(t *testing.T) {
	hub := New(nil)
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()
	r := testutil.OpenStream(t, srv.URL, "")
	req := &job.Job{ID: "1", Name: "Alice", EnqueuedAt: time.Now()}
	hub.PublishJob(req)
	req.Start(1, time.Now(), func() {})
	hub.PublishJob(req)
	req.Finish(job.Done, time.Now(), "")
	hub.PublishJob(req)
	for i, want := range []string{"queued", "running", "done"} {
		ev := testutil.NextOf(t, r, "job")
		var j job.View
		if err := json.Unmarshal([]byte(ev.Data), &j); err != nil {
			t.Fatalf("event %d: %v in %q", i, err, ev.Data)
		}
		if ev.ID != idOf(hub, uint64(i+1)) || j.State != want {
			t.Errorf("event %d: id %q state %q, want id %s state %q", i, ev.ID, j.State, idOf(hub, uint64(i+1)), want)
		}
	}
}

func TestEnqueuePublishesQueuedFirst(t *testing.T) {
	hub := New(nil)
	defer hub.Close()
	refused := errors.New("full")
	r := &job.Job{ID: "1", Name: "Alice", EnqueuedAt: time.Now()}
	if err := hub.Enqueue(r, func(*job.Job) error { return refused }); err != refused {
		t.Fatalf("Enqueue with a refusing push: %v, want %v", err, refused)
	}
	// A worker that starts the job before Enqueue returns, as one may.
	err := hub.Enqueue(r, func(r *job.Job) error {
		r.Start(2, time.Now(), func() {})
		return nil
	})
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	hub.PublishJob(r)
	_, _, sub := hub.subscribe(0, true, nil)
	missed := takeAll(hub, sub)
	hub.unsubscribe(sub)
	var states []string
	for _, ev := range missed {
		var j job.View
		if err := json.Unmarshal(ev.AppendData(nil), &j); err != nil {
			t.Fatal(err)
		}
		states = append(states, j.State)
		if j.State == "queued" && (j.Worker != 0 || !j.StartedAt.IsZero()) {
			t.Errorf("queued event %s shows a start", ev.AppendData(nil))
		}
	}
	if got, want := strings.Join(states, ","), "queued,running"; got != want {
		t.Errorf("events = %s, want %s (none for the refused push)", got, want)
	}
}

// TestEventsOutliveServerTimeouts checks that a stream lives on past the
// http.Server's read and write timeouts, which ServeHTTP lifts for it.
func TestEventsOutliveServerTimeouts(t *testing.T) {
	hub := New(func() []byte { return []byte("{}") })
	defer hub.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: hub, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}
	go hs.Serve(ln)
	defer hs.Close()
	r := testutil.OpenStream(t, "http://"+ln.Addr().String(), "")
	for range 3 { // the first at once, then one a second: 2 s, ten times the timeouts
		testutil.NextOf(t, r, "stats")
	}
}

// TestEnqueueQueuedEventIsTheJobAsPushed checks that the "queued" event
// Enqueue publishes is, byte for byte, what GET /work/{id} answered for the
// job as it was pushed, even when a worker starts it before Enqueue takes
// its snapshot: no attempts, worker or start time from the run to come.
func TestEnqueueQueuedEventIsTheJobAsPushed(t *testing.T) {
	hub := New(nil)
	defer hub.Close()
	r := &job.Job{ID: "1", Name: "Alice", Delay: time.Second, EnqueuedAt: time.Now()}
	asPushed := r.Snapshot()
	want := strings.TrimSuffix(string(respond.AppendJob(nil, &asPushed)), "\n")
	err := hub.Enqueue(r, func(r *job.Job) error {
		r.Start(2, time.Now(), func() {}) // a worker quicker than the Collector
		return nil
	})
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	_, _, sub := hub.subscribe(0, true, nil)
	missed := takeAll(hub, sub)
	hub.unsubscribe(sub)
	if len(missed) != 1 {
		t.Fatalf("%d events published, want 1", len(missed))
	}
	if got := string(missed[0].AppendData(nil)); got != want {
		t.Errorf("queued event data = %s, want %s", got, want)
	}
}

// TestEnqueueAfterACancel checks the events of a job that DELETE canceled
// between the Collector storing it and pushing it (with -journal, while its
// acceptance is being flushed): the cancel's event is published first, and
// the job's last event must still say canceled, as GET /work/{id} does, not
// "queued" for a job that will never run.
func TestEnqueueAfterACancel(t *testing.T) {
	hub := New(nil)
	defer hub.Close()
	var accepted atomic.Int64
	q := queue.New(1, &accepted)
	r := &job.Job{ID: "1", Name: "Alice", EnqueuedAt: time.Now()}
	if _, ok := r.Cancel(time.Now()); !ok {
		t.Fatal("cancelJob = false, want true")
	}
	hub.PublishJob(r) // as the DELETE handler does
	if err := hub.Enqueue(r, q.Push); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	_, _, sub := hub.subscribe(0, true, nil)
	missed := takeAll(hub, sub)
	hub.unsubscribe(sub)
	if len(missed) == 0 {
		t.Fatal("no events published")
	}
	j := r.Snapshot()
	want := strings.TrimSuffix(string(respond.AppendJob(nil, &j)), "\n")
	if got := string(missed[len(missed)-1].AppendData(nil)); got != want {
		t.Errorf("the job's last event = %s, want %s", got, want)
	}
}
