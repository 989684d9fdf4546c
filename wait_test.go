package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"workqueue/internal/api"
	"workqueue/internal/job"
)

// answer is a response as a waiting test goroutine saw it.
type answer struct {
	code int
	job  job.View
	at   time.Duration // since the wait began
}

// waitFor starts GET /work/{id}?wait=wait straight on ts's handler in a new
// goroutine and returns the channel its answer arrives on.
func (ts *testServer) waitFor(id, wait string) <-chan answer {
	c := make(chan answer, 1)
	start := time.Now()
	go func() {
		rec := ts.do("GET", "/work/"+id+"?wait="+wait, "", "")
		a := answer{code: rec.Code, at: time.Since(start)}
		if rec.Code == http.StatusOK {
			json := rec.Body.String()
			a.job.State = between(json, `"state":"`, `"`)
			a.job.ID = between(json, `"id":"`, `"`)
		}
		c <- a
	}()
	return c
}

// between returns the text of s between the first before and the next after.
func between(s, before, after string) string {
	_, s, _ = strings.Cut(s, before)
	s, _, _ = strings.Cut(s, after)
	return s
}

// TestWaitReturnsOnFinish checks a wait answers the moment its job is done,
// woken by the job's own transition, not at the end of the wait.
func TestWaitReturnsOnFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := newTestServer(t, testConfig(), Sleep)
		id := ts.submitID(t, "Alice", "3s")
		a := <-ts.waitFor(id, "10s")
		if a.code != http.StatusOK || a.job.State != "done" || a.at != 3*time.Second {
			t.Errorf("wait=10s on a 3s job: %d %s after %v; want 200 done after 3s", a.code, a.job.State, a.at)
		}
	})
}

// TestWaitReturnsOnCancel checks a cancel wakes a waiter at once.
func TestWaitReturnsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := newTestServer(t, testConfig(), newGate(nil).work)
		id := ts.submitID(t, "Alice", "")
		c := ts.waitFor(id, "10s")
		time.Sleep(time.Second)
		ts.do("DELETE", "/work/"+id, "", "")
		if a := <-c; a.code != http.StatusOK || a.job.State != "canceled" || a.at != time.Second {
			t.Errorf("wait=10s, canceled after 1s: %d %s after %v; want 200 canceled after 1s", a.code, a.job.State, a.at)
		}
	})
}

// TestWaitTimesOut checks a wait on a job that stays running answers at the
// end of the wait, with the job as it is.
func TestWaitTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := newTestServer(t, testConfig(), newGate(nil).work)
		id := ts.submitID(t, "Alice", "")
		synctest.Wait()
		a := <-ts.waitFor(id, "2s")
		if a.code != http.StatusOK || a.job.State != "running" || a.at != 2*time.Second {
			t.Errorf("wait=2s on a held job: %d %s after %v; want 200 running after 2s", a.code, a.job.State, a.at)
		}
	})
}

// TestWaitFinalAtOnce checks a wait on a finished job answers at once.
func TestWaitFinalAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := newTestServer(t, testConfig(), Sleep)
		id := ts.submitID(t, "Alice", "")
		synctest.Wait()
		if a := <-ts.waitFor(id, "60s"); a.code != http.StatusOK || a.job.State != "done" || a.at != 0 {
			t.Errorf("wait=60s on a done job: %d %s after %v; want 200 done at once", a.code, a.job.State, a.at)
		}
	})
}

// TestWaitBadValues checks every wait outside (0, 60s] is a 400 that says
// what to send, and an unknown job is still a 404.
func TestWaitBadValues(t *testing.T) {
	ts := newTestServer(t, testConfig(), newGate(nil).work)
	id := ts.submitID(t, "Alice", "")
	for _, wait := range []string{"0", "0s", "-1s", "61s", "1m0.001s", "abc", "", "10", "1s&wait=2s", "%zz"} {
		rec := ts.do("GET", "/work/"+id+"?wait="+wait, "", "")
		if rec.Code != http.StatusBadRequest {
			t.Errorf("GET ?wait=%s: status = %d, want 400", wait, rec.Code)
			continue
		}
		if msg := decodeError(t, rec.Body.Bytes()); !strings.Contains(msg, "wait") && !strings.Contains(msg, "query") {
			t.Errorf("GET ?wait=%s: error %q, want it to speak of wait or the query", wait, msg)
		}
	}
	if rec := ts.do("GET", "/work/999?wait=1s", "", ""); rec.Code != http.StatusNotFound {
		t.Errorf("GET /work/999?wait=1s: status = %d, want 404", rec.Code)
	}
}

// TestWaitOutlastsWriteTimeout waits 12 s for a 12 s job over real HTTP,
// through an http.Server with the real limits (a 10 s write timeout and a
// 10 s read timeout), and checks the wait is not cut short. It takes 12 s
// of real time.
func TestWaitOutlastsWriteTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 12 s")
	}
	t.Parallel()
	cfg := testConfig()
	cfg.MaxDelay = 15 * time.Second
	ts := newTestServer(t, cfg, Sleep)
	if l := api.DefaultLimits(); l.Write >= 12*time.Second || l.Read >= 12*time.Second {
		t.Fatalf("limits %+v: the test needs timeouts below 12s to mean anything", l)
	}
	addr := startHTTP(t, ts, api.DefaultLimits())
	id := ts.submitID(t, "Alice", "12s")
	resp, err := http.Get("http://" + addr + "/work/" + id + "?wait=15s")
	if err != nil {
		t.Fatalf("GET ?wait=15s on a 12s job: %v (the timeouts cut the wait)", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	if j := decodeJob(t, body); resp.StatusCode != http.StatusOK || j.State != "done" {
		t.Errorf("GET ?wait=15s on a 12s job: %d %s, want 200 done", resp.StatusCode, j.State)
	}
}

// TestWaitClientHangsUp checks a client that hangs up ends its wait at once:
// the handler returns, and the goroutine count comes back to its baseline.
func TestWaitClientHangsUp(t *testing.T) {
	started := make(chan *WorkRequest, 1)
	ts := newTestServer(t, testConfig(), newGate(started).work)
	returned := make(chan struct{}, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.handler.ServeHTTP(w, r)
		returned <- struct{}{}
	}))
	defer hs.Close()
	id := ts.submitID(t, "Alice", "")
	<-started // the dispatcher has started every worker
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	baseline := runtime.NumGoroutine()

	ctx, hangUp := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", hs.URL+"/work/"+id+"?wait=60s", nil)
	got := make(chan error, 1)
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		got <- err
	}()
	waitUntil(t, "the waiter to be parked", func() bool { return ts.jobs.Get(id).HasWaiter() })
	hangUp()
	if err := <-got; err == nil {
		t.Fatal("the request succeeded; want it canceled")
	}
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler still waits 10s after its client hung up")
	}
	if !eventually(func() bool { return runtime.NumGoroutine() <= baseline }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines 10s after the hang-up, want at most %d as before the wait:\n%s",
			runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
	}
}

// eventually polls cond until it holds, for up to 10 s, and reports
// whether it did.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// waitUntil polls cond until it holds, failing the test after 10 s. It is
// for conditions across the network stack, which no channel reports.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after 10s waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWaitDrainAnswersWaiters checks that a drain answers every waiter: a
// complete drain as their jobs finish, and one that gives up through the
// server's stopping channel, including waiters on jobs never started.
func TestWaitDrainAnswersWaiters(t *testing.T) {
	for _, giveUp := range []bool{false, true} {
		t.Run(fmt.Sprintf("giveUp=%v", giveUp), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig()
				cfg.Workers = 2
				g := newGate(nil)
				ts := newTestServer(t, cfg, g.work)
				var waits []<-chan answer
				for i := range 5 { // 2 running, 1 in the dispatcher's hand, 2 queued
					waits = append(waits, ts.waitFor(ts.submitID(t, fmt.Sprint("j", i), ""), "60s"))
				}
				synctest.Wait()
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				defer cancel()
				if !giveUp {
					close(g.open)
				}
				err := ts.drain(ctx)
				if (err != nil) != giveUp {
					t.Fatalf("drain: %v; want an error: %v", err, giveUp)
				}
				synctest.Wait() // let the woken waiters answer
				for i, c := range waits {
					select {
					case a := <-c:
						if a.code != http.StatusOK || a.at >= 60*time.Second {
							t.Errorf("waiter %d: %d after %v, want 200 before its wait ended", i, a.code, a.at)
						}
					default:
						t.Errorf("waiter %d not answered after the drain returned", i)
					}
				}
			})
		})
	}
}

// TestBinaryWaitersAnsweredOnSIGTERM starts the real binary, sends a wait
// on a running 5s job, then SIGTERM, and checks the waiter gets its answer
// (the job done) and the process exits 0. The wait's request is on the wire
// before the signal; the drain's 5 s leave ample time to read it.
func TestBinaryWaitersAnsweredOnSIGTERM(t *testing.T) {
	t.Parallel()
	p := startBinary(t, "-n", "1")
	if code := p.submit(t, "Alice", "5s"); code != http.StatusCreated {
		t.Fatalf("POST: status = %d, want 201", code)
	}
	addr := strings.TrimPrefix(p.url, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /work/1?wait=30s HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGTERM)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the waiter's answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if state := between(string(body), `"state":"`, `"`); resp.StatusCode != http.StatusOK || state != "done" {
		t.Errorf("waiter got %d %s, want 200 done", resp.StatusCode, state)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit status = %d, want 0\nstderr:\n%s", code, p.stderr)
	}
}
