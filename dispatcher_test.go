package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestFIFO checks that with one worker, jobs complete in the order they were
// accepted, even when later jobs are shorter: the dispatcher hands them out
// in order, and a goroutine per job would let the short ones overtake.
func TestFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers = 1
		ts := newTestServer(t, cfg, Sleep)
		var want []string
		for i := range 50 {
			name := fmt.Sprintf("job%02d", i)
			delay := time.Duration(50-i) * time.Millisecond
			if rec := ts.submit(name, delay.String()); rec.Code != http.StatusCreated {
				t.Fatalf("POST %s: status = %d, want 201", name, rec.Code)
			}
			want = append(want, name)
		}
		if err := ts.drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		got := greetings(t, ts.out)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("completion order:\n got %q\nwant %q", got, want)
		}
	})
}

// TestExactlyOnce sends 2,000 concurrent submissions over real HTTP to a
// server with a queue of 10, and checks job for job that every request
// answered 201 ran exactly once and no request answered 503 ran at all.
// The workers are held until the first 503, so the queue is sure to overflow.
func TestExactlyOnce(t *testing.T) {
	const submissions = 2000
	cfg := testConfig()
	cfg.Queue = 10
	firstRefusal := make(chan struct{})
	var refusedOnce sync.Once
	work := func(ctx context.Context, r *WorkRequest) error {
		<-firstRefusal
		if r.Delay > 0 {
			return Sleep(ctx, r)
		}
		return nil
	}
	ts := newTestServer(t, cfg, work)
	hs := httptest.NewServer(ts.handler)
	defer hs.Close()
	client := hs.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 100

	var (
		mu       sync.Mutex
		accepted = map[string]string{} // name → job id
		refused  = map[string]bool{}
		failures []string
	)
	var wg sync.WaitGroup
	for i := range submissions {
		name := fmt.Sprintf("n%04d", i)
		delay := []string{"0s", "0s", "0s", "100us"}[i%4]
		wg.Go(func() {
			resp, err := client.PostForm(hs.URL+"/work", url.Values{"name": {name}, "delay": {delay}})
			if err != nil {
				mu.Lock()
				failures = append(failures, err.Error())
				mu.Unlock()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			switch resp.StatusCode {
			case http.StatusCreated:
				accepted[name] = resp.Header.Get("Location")
			case http.StatusServiceUnavailable:
				refused[name] = true
				refusedOnce.Do(func() { close(firstRefusal) })
			default:
				failures = append(failures, fmt.Sprintf("POST %s: status %d %s", name, resp.StatusCode, body))
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d submissions failed, first: %s", len(failures), failures[0])
	}
	if err := ts.drain(t.Context()); err != nil {
		t.Fatal(err)
	}

	ran := map[string]int{}
	for _, name := range greetings(t, ts.out) {
		ran[name]++
	}
	for name := range accepted {
		if ran[name] != 1 {
			t.Errorf("job %s answered 201 ran %d times, want 1", name, ran[name])
		}
	}
	for name := range refused {
		if ran[name] != 0 {
			t.Errorf("job %s answered 503 ran %d times, want 0", name, ran[name])
		}
	}
	if len(accepted)+len(refused) != submissions || len(ran) != len(accepted) {
		t.Errorf("%d accepted + %d refused of %d submissions; %d distinct jobs ran",
			len(accepted), len(refused), submissions, len(ran))
	}
	if len(refused) == 0 {
		t.Errorf("no submission was refused: the queue never overflowed")
	}
	if got := ts.stats.Accepted.Load(); got != int64(len(accepted)) {
		t.Errorf("accepted counter = %d, want %d", got, len(accepted))
	}
	if got := ts.stats.Done.Load(); got != int64(len(accepted)) {
		t.Errorf("done counter = %d, want %d", got, len(accepted))
	}
	if got := ts.stats.RejectedFull.Load(); got != int64(len(refused)) {
		t.Errorf("rejected (full) counter = %d, want %d", got, len(refused))
	}
	t.Logf("%d accepted, %d refused", len(accepted), len(refused))
}

// TestGoroutinesDoNotGrowWithRequests queues a thousand jobs behind held
// workers and checks the process has not gained a goroutine: the queue holds
// requests, not goroutines. It must not run in parallel with other tests.
func TestGoroutinesDoNotGrowWithRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Queue = 1000
		g := newGate(nil)
		before := runtime.NumGoroutine()
		ts := newTestServer(t, cfg, g.work)
		for i := range cfg.Queue + cfg.Workers {
			if rec := ts.submit(fmt.Sprintf("job%d", i), ""); rec.Code != http.StatusCreated {
				t.Fatalf("POST job%d: status = %d, want 201", i, rec.Code)
			}
			synctest.Wait() // the dispatcher takes what it can
		}
		for range 500 {
			if rec := ts.submit("overflow", ""); rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("POST to a full queue: status = %d, want 503", rec.Code)
			}
		}
		// One dispatcher and its workers; anything else is a goroutine per job.
		want := before + 1 + cfg.Workers
		if got := runtime.NumGoroutine(); got > want {
			t.Errorf("goroutines with %d jobs queued = %d, want %d (%d before the server started)",
				ts.queue.Len(), got, want, before)
		}
		close(g.open)
		if err := ts.drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := len(greetings(t, ts.out)); got != cfg.Queue+cfg.Workers {
			t.Errorf("%d jobs ran, want %d", got, cfg.Queue+cfg.Workers)
		}
	})
}
