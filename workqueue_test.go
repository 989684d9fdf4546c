package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"workqueue/internal/queue"
)

// post submits a job and checks the status it gets.
func (ts *testServer) post(t *testing.T, name string, want int) string {
	t.Helper()
	rec := ts.submit(name, "")
	if rec.Code != want {
		t.Fatalf("POST %s: status = %d, want %d; %s", name, rec.Code, want, rec.Body)
	}
	if want != http.StatusCreated {
		return ""
	}
	return decodeJob(t, rec.Body.Bytes()).ID
}

// cancel cancels a job through DELETE /work/{id}, checking it answers 200.
func (ts *testServer) cancel(t *testing.T, id string) {
	t.Helper()
	if rec := ts.do("DELETE", "/work/"+id, "", ""); rec.Code != http.StatusOK {
		t.Fatalf("DELETE /work/%s: status = %d, want 200; %s", id, rec.Code, rec.Body)
	}
}

// checkWaiting checks that WorkQueue and /metrics both say want jobs wait.
func (ts *testServer) checkWaiting(t *testing.T, want int) {
	t.Helper()
	if got := ts.queue.Len(); got != want {
		t.Errorf("queue.Len() = %d, want %d", got, want)
	}
	if m, _ := scrape(t, ts); m["workqueue_queue_length"] != float64(want) {
		t.Errorf("workqueue_queue_length = %v, want %d", m["workqueue_queue_length"], want)
	}
}

// checkEmptied checks that after a drain nothing is left in WorkQueue: no
// request counted as waiting, none left to take, and the queue ended.
func (ts *testServer) checkEmptied(t *testing.T) {
	t.Helper()
	q := ts.queue
	if n := q.Len(); n != 0 {
		t.Errorf("after the drain: %d waiting, want 0", n)
	}
	wake := make(chan struct{})
	close(wake) // Next returns at once if the queue is empty but open
	switch r, ok, woken := q.Next(wake); {
	case r != nil:
		t.Errorf("after the drain the queue still holds job %s", r.ID)
	case ok || woken:
		t.Errorf("after the drain the queue has not ended")
	}
}

// drainAndCheck opens g, drains ts and checks the names greeted, in order.
func (ts *testServer) drainAndCheck(t *testing.T, g *gate, want []string) {
	t.Helper()
	close(g.open)
	if err := ts.drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := greetings(t, ts.out); !slices.Equal(got, want) {
		t.Errorf("jobs run, in order:\n got %q\nwant %q", got, want)
	}
	ts.checkEmptied(t)
}

// TestQueueCountsTheHeldJob checks the job the dispatcher holds while it
// waits for a worker counts against -queue (SPEC "Running it"): with -n 1
// -queue 1 and job 1 running, job 2 fills the queue and job 3 is refused.
func TestQueueCountsTheHeldJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers, cfg.Queue = 1, 1
		g := newGate(nil)
		ts := newTestServer(t, cfg, g.work)
		ts.post(t, "job1", http.StatusCreated)
		synctest.Wait() // job1 runs
		ts.checkWaiting(t, 0)
		two := ts.post(t, "job2", http.StatusCreated)
		synctest.Wait() // the dispatcher holds job2 until the worker is free
		ts.checkWaiting(t, 1)
		ts.post(t, "job3", http.StatusServiceUnavailable)
		ts.post(t, "job4", http.StatusServiceUnavailable)
		ts.checkWaiting(t, 1)

		ts.cancel(t, two) // canceled in the dispatcher's hand: it waits no more
		ts.checkWaiting(t, 0)
		ts.post(t, "job5", http.StatusCreated)
		ts.post(t, "job6", http.StatusServiceUnavailable)
		ts.checkWaiting(t, 1)
		ts.drainAndCheck(t, g, []string{"job1", "job5"})
	})
}

// TestCancelFreesTheQueue fills the queue behind a running job, cancels
// every queued job and checks the queue takes as many again at once, while
// the running job still runs, and that exactly the jobs not canceled run,
// once each and in order. The channel is full of canceled jobs by then, so
// the new ones wait in the overflow.
func TestCancelFreesTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers, cfg.Queue = 1, 3
		g := newGate(nil)
		ts := newTestServer(t, cfg, g.work)
		running := ts.post(t, "running", http.StatusCreated)
		synctest.Wait()
		var queued []string
		for _, name := range []string{"a", "b", "c"} {
			queued = append(queued, ts.post(t, name, http.StatusCreated))
			synctest.Wait()
		}
		ts.post(t, "d", http.StatusServiceUnavailable)
		for _, id := range queued {
			ts.cancel(t, id)
		}
		ts.checkWaiting(t, 0)
		for _, name := range []string{"e", "f", "g"} {
			ts.post(t, name, http.StatusCreated)
			synctest.Wait()
		}
		ts.post(t, "h", http.StatusServiceUnavailable)
		ts.checkWaiting(t, 3)
		if j := ts.getJob(t, running); j.State != "running" {
			t.Errorf("job %s: state = %q, want running", running, j.State)
		}
		ts.drainAndCheck(t, g, []string{"running", "e", "f", "g"})
	})
}

// TestCancelRefillCycles runs many cycles of filling the queue behind a held
// job and canceling most of what was accepted, and checks the count of
// waiting jobs at every step, that the overflow stays bounded though the
// dispatcher passes over nothing meanwhile, and that in the end the jobs not
// canceled run once each, in order, and the drain leaves nothing behind.
func TestCancelRefillCycles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers, cfg.Queue = 1, 4
		g := newGate(nil)
		ts := newTestServer(t, cfg, g.work)
		ts.post(t, "held", http.StatusCreated)
		synctest.Wait()
		want := []string{"held"}
		canceled := 0
		for cycle := range 60 {
			var ids, names []string
			for i := 0; ; i++ {
				name := fmt.Sprintf("c%02d-%d", cycle, i)
				rec := ts.submit(name, "")
				if rec.Code == http.StatusServiceUnavailable {
					break
				}
				if rec.Code != http.StatusCreated {
					t.Fatalf("POST %s: status = %d, want 201 or 503", name, rec.Code)
				}
				ids, names = append(ids, decodeJob(t, rec.Body.Bytes()).ID), append(names, name)
				synctest.Wait()
			}
			if got, free := len(ids), cfg.Queue-(len(want)-1); got != free {
				t.Fatalf("cycle %d: %d accepted, want %d (the places free)", cycle, got, free)
			}
			keep := cycle%20 == 0 // three cycles keep their first job
			for i, id := range ids {
				if keep && i == 0 {
					want = append(want, names[i])
					continue
				}
				ts.cancel(t, id)
				canceled++
			}
			ts.checkWaiting(t, len(want)-1)
		}
		ts.drainAndCheck(t, g, want)
	})
}

// TestPushForcedBeyondCapacity queues more forced requests than -queue
// allows behind a held job: all are taken and run in order, each counts as
// waiting, and Push refuses new work meanwhile.
func TestPushForcedBeyondCapacity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers, cfg.Queue = 1, 2
		g := newGate(nil)
		ts := newTestServer(t, cfg, g.work)
		ts.post(t, "first", http.StatusCreated)
		synctest.Wait()
		want := []string{"first"}
		for i := range 5 {
			r := ts.forcedRequest(fmt.Sprintf("forced%d", i))
			if err := ts.queue.PushForced(r); err != nil {
				t.Fatalf("PushForced %s: %v, want nil", r.Name, err)
			}
			want = append(want, r.Name)
			synctest.Wait()
		}
		ts.checkWaiting(t, 5)
		ts.post(t, "refused", http.StatusServiceUnavailable)
		if got := ts.stats.RejectedFull.Load(); got != 1 {
			t.Errorf("rejected (full) = %d, want 1", got)
		}
		ts.drainAndCheck(t, g, want)
	})
}

// forcedRequest returns a new request with the given name, kept in the store
// as a replayed job would be; its number is far above the Collector's.
func (ts *testServer) forcedRequest(name string) *WorkRequest {
	seq := 1_000_000 + uint64(ts.jobs.Len())
	r := &WorkRequest{ID: strconv.FormatUint(seq, 10), Seq: seq, Name: name, EnqueuedAt: time.Now()}
	ts.jobs.Add(r)
	return r
}

// TestPushForcedDuringDrain checks a forced push made during a drain runs
// before the drain completes, as long as it holds the queue, and that once
// the queue has ended PushForced and Hold fail instead of panicking.
func TestPushForcedDuringDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := newTestServer(t, testConfig(), Sleep)
		if err := ts.queue.Hold(); err != nil {
			t.Fatalf("Hold: %v, want nil", err)
		}
		drained := make(chan error, 1)
		go func() { drained <- ts.drain(t.Context()) }()
		synctest.Wait()
		select {
		case err := <-drained:
			t.Fatalf("drain returned %v while the queue was held", err)
		default:
		}
		rec := ts.submit("late", "")
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "shutting down") {
			t.Errorf("POST while draining: %d %s, want 503 saying it is shutting down", rec.Code, rec.Body)
		}
		r := ts.forcedRequest("retry")
		if err := ts.queue.PushForced(r); err != nil {
			t.Fatalf("PushForced while draining: %v, want nil", err)
		}
		ts.queue.Release()
		if err := <-drained; err != nil {
			t.Fatal(err)
		}
		if got := greetings(t, ts.out); !slices.Equal(got, []string{"retry"}) {
			t.Errorf("greetings = %q, want [retry]", got)
		}
		if err := ts.queue.PushForced(ts.forcedRequest("too late")); err != queue.ErrEnded {
			t.Errorf("PushForced after the end: %v, want %v", err, queue.ErrEnded)
		}
		if err := ts.queue.Hold(); err != queue.ErrEnded {
			t.Errorf("Hold after the end: %v, want %v", err, queue.ErrEnded)
		}
		ts.checkEmptied(t)
	})
}

// TestStartCancelRace cancels every job while the workers start them as
// fast as they can, and checks each job stops waiting exactly once: the
// count never falls below zero and ends at zero, and every job either ran
// or was canceled.
func TestStartCancelRace(t *testing.T) {
	cfg := testConfig()
	cfg.Workers, cfg.Queue = 4, 1000
	open := make(chan struct{})
	work := func(ctx context.Context, r *WorkRequest) error {
		<-open
		return nil
	}
	ts := newTestServer(t, cfg, work)
	ids := make([]string, 0, 500)
	for i := range cap(ids) {
		ids = append(ids, ts.post(t, fmt.Sprintf("j%d", i), http.StatusCreated))
	}
	var wg sync.WaitGroup
	var lowest atomic.Int64
	close(open)
	for _, id := range ids {
		wg.Go(func() {
			ts.do("DELETE", "/work/"+id, "", "") // 200 or 409: either is fine
			n := int64(ts.queue.Len())
			for low := lowest.Load(); n < low && !lowest.CompareAndSwap(low, n); low = lowest.Load() {
			}
		})
	}
	wg.Wait()
	if err := ts.drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if lowest.Load() < 0 {
		t.Errorf("queue.Len() fell to %d", lowest.Load())
	}
	done, canceled := ts.stats.Done.Load(), ts.stats.Canceled.Load()
	if done+canceled != int64(len(ids)) {
		t.Errorf("%d done + %d canceled, want %d", done, canceled, len(ids))
	}
	ts.checkEmptied(t)
	t.Logf("%d done, %d canceled", done, canceled)
}

// TestBinaryDrainLogCountsWaiting checks the real binary's "draining" log
// line reports as queued exactly the jobs that wait: the one the dispatcher
// holds counted, canceled ones not.
func TestBinaryDrainLogCountsWaiting(t *testing.T) {
	p := startBinary(t, "-n", "1", "-queue", "3", "-max-delay", "1m", "-log-level", "debug")
	post := func(name string, want int) string {
		t.Helper()
		resp, err := http.PostForm(p.url+"/work", url.Values{"name": {name}, "delay": {"1m"}})
		if err != nil {
			t.Fatalf("POST %s: %v", name, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s: status = %d, want %d", name, resp.StatusCode, want)
		}
		return resp.Header.Get("Location")
	}
	del := func(location string) {
		t.Helper()
		req, _ := http.NewRequest("DELETE", p.url+location, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("DELETE %s: %v", location, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("DELETE %s: status = %d, want 200", location, resp.StatusCode)
		}
	}

	a := post("a", http.StatusCreated)
	waitLog(t, p, regexp.MustCompile(`msg="job started" worker=1 id=1 `))
	b := post("b", http.StatusCreated) // held by the dispatcher
	c := post("c", http.StatusCreated)
	d := post("d", http.StatusCreated)
	post("e", http.StatusServiceUnavailable) // b, c and d wait
	del(c)
	f := post("f", http.StatusCreated)
	post("g", http.StatusServiceUnavailable)
	del(d) // b and f wait

	p.signal(t, syscall.SIGTERM)
	m := waitLog(t, p, regexp.MustCompile(`msg=draining .*queued=(\d+) running=(\d+)`))
	if m[1] != "2" || m[2] != "1" {
		t.Errorf("draining line says queued=%s running=%s, want queued=2 running=1", m[1], m[2])
	}
	for _, job := range []string{f, b, a} {
		del(job)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d after every job was canceled, want 0\nstderr:\n%s", code, p.stderr)
	}
	if out := p.stdout.String(); out != "" {
		t.Errorf("stdout = %q, want nothing: every job was canceled", out)
	}
}

// waitLog polls the process's log until re matches it, and returns the match.
func waitLog(t *testing.T, p *proc, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no log line matching %s within 10s:\n%s", re, p.stderr)
	return nil
}
