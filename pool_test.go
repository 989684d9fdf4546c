package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// poolDoc is the document of GET and PUT /workers.
type poolDoc struct {
	Workers int `json:"workers"`
	Busy    int `json:"busy"`
	Target  int `json:"target"`
}

// getPool asks the server at base for GET /workers over HTTP.
func getPool(base string) (poolDoc, error) {
	var d poolDoc
	resp, err := http.Get(base + "/workers")
	if err != nil {
		return d, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return d, fmt.Errorf("GET /workers: status %d", resp.StatusCode)
	}
	return d, json.NewDecoder(resp.Body).Decode(&d)
}

// putPool asks the server at base for PUT /workers?workers=n over HTTP and
// returns the status and the body.
func putPool(base string, n int) (int, string, error) {
	req, err := http.NewRequest("PUT", base+"/workers?workers="+strconv.Itoa(n), nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// mustResize resizes the pool at base to n, failing the test unless the
// server answers 200 with target n.
func mustResize(t *testing.T, base string, n int) poolDoc {
	t.Helper()
	code, body, err := putPool(base, n)
	if err != nil || code != http.StatusOK {
		t.Fatalf("PUT /workers?workers=%d: %d %s %v, want 200", n, code, body, err)
	}
	var d poolDoc
	if err := json.Unmarshal([]byte(body), &d); err != nil || d.Target != n {
		t.Fatalf("PUT /workers?workers=%d answered %s (%v), want target %d", n, body, err, n)
	}
	return d
}

// metricsPool reads the workqueue_workers and workqueue_workers_busy
// gauges from GET /metrics at base.
func metricsPool(base string) (workers, busy int64, err error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || (name != "workqueue_workers" && name != "workqueue_workers_busy") {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/metrics: %s %q: %v", name, v, err)
		}
		if name == "workqueue_workers" {
			workers = n
		} else {
			busy = n
		}
		found++
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("/metrics: %d of the 2 worker gauges found", found)
	}
	return workers, busy, sc.Err()
}

// workerOf returns the number of the worker running r.
func workerOf(r *WorkRequest) int {
	return int(r.Status().Worker)
}

// httpServer serves ts's handler over real HTTP for the test.
func httpServer(t *testing.T, ts *testServer) string {
	srv := httptest.NewServer(ts.handler)
	t.Cleanup(srv.Close)
	return srv.URL
}

// receive takes n requests from started, in the order the jobs started,
// failing the test if they do not all start within a minute: a generous
// bound that only a hung server misses.
func receive(t *testing.T, started <-chan *WorkRequest, n int) []*WorkRequest {
	t.Helper()
	var got []*WorkRequest
	timeout := time.After(time.Minute)
	for len(got) < n {
		select {
		case r := <-started:
			got = append(got, r)
		case <-timeout:
			t.Fatalf("%d jobs started, want %d", len(got), n)
		}
	}
	return got
}

// drainNow drains ts, failing the test if the drain does not end normally.
func drainNow(t *testing.T, ts *testServer) {
	t.Helper()
	if err := ts.drain(context.Background()); err != nil {
		t.Fatalf("drain: %v", err)
	}
}

// TestResizeGrow grows the pool from 2 to 8 with 40 jobs queued: six new
// workers start at once and take queued jobs, so that 8 run together.
func TestResizeGrow(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 2
	started := make(chan *WorkRequest, 40)
	g := newGate(started)
	ts := newTestServer(t, cfg, g.work)
	base := httpServer(t, ts)
	for i := range 40 {
		if rec := ts.submit("job-"+strconv.Itoa(i+1), "300ms"); rec.Code != http.StatusCreated {
			t.Fatalf("POST /work: status = %d, want 201", rec.Code)
		}
	}
	receive(t, started, 2)
	if d, err := getPool(base); err != nil || d != (poolDoc{2, 2, 2}) {
		t.Fatalf("GET /workers before the resize = %+v, %v; want %+v", d, err, poolDoc{2, 2, 2})
	}
	mustResize(t, base, 8)
	receive(t, started, 6)
	if d, err := getPool(base); err != nil || d != (poolDoc{8, 8, 8}) {
		t.Fatalf("GET /workers after growing to 8 = %+v, %v; want %+v", d, err, poolDoc{8, 8, 8})
	}
	close(g.open)
	drainNow(t, ts)
	if got := len(greetings(t, ts.out)); got != 40 {
		t.Errorf("greetings = %d, want 40", got)
	}
}

// TestResizeShrinkIdle shrinks an idle pool of 8 to 2: the answer is the
// pool right after the shrink, 2 workers, since idle workers retire at once
// (it answered 8, the workers not yet retired, before).
func TestResizeShrinkIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers = 8
		ts := newTestServer(t, cfg, Sleep)
		synctest.Wait() // every worker idle, its channel in WorkerQueue
		rec := ts.do("PUT", "/workers?workers=2", "", "")
		if got, want := strings.TrimSpace(rec.Body.String()), `{"workers":2,"busy":0,"target":2,"remote_waiting":0,"remote_running":0}`; rec.Code != http.StatusOK || got != want {
			t.Errorf("PUT /workers?workers=2 on 8 idle workers = %d %s, want 200 %s", rec.Code, got, want)
		}
		drainNow(t, ts)
	})
}

// TestResizeShrink shrinks the pool from 8 to 1 while 8 jobs run and 22
// wait: no job is interrupted, the busy workers retire as their jobs end,
// and the one worker left then runs the rest strictly in id order.
func TestResizeShrink(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 8
	started := make(chan *WorkRequest, 30)
	g := newGate(started)
	ts := newTestServer(t, cfg, g.work)
	base := httpServer(t, ts)
	for i := range 30 {
		if rec := ts.submit("job-"+strconv.Itoa(i+1), "300ms"); rec.Code != http.StatusCreated {
			t.Fatalf("POST /work: status = %d, want 201", rec.Code)
		}
	}
	receive(t, started, 8)
	if d := mustResize(t, base, 1); d != (poolDoc{8, 8, 1}) {
		t.Fatalf("PUT /workers?workers=1 with 8 busy = %+v, want %+v: busy workers retire only when their job ends", d, poolDoc{8, 8, 1})
	}
	close(g.open)
	// Job 9 starts only once 7 of the first 8 workers have retired.
	receive(t, started, 1)
	if d, err := getPool(base); err != nil || d.Workers != 1 || d.Target != 1 {
		t.Fatalf("GET /workers once a job started after the shrink = %+v, %v; want 1 worker, target 1", d, err)
	}
	drainNow(t, ts)

	for i := range 30 {
		id := strconv.Itoa(i + 1)
		if j := decodeJob(t, ts.do("GET", "/work/"+id, "", "").Body.Bytes()); j.State != "done" {
			t.Errorf("job %s: state %q (%s), want done", id, j.State, j.Error)
		}
	}
	if c, f := ts.stats.Canceled.Load(), ts.stats.Failed.Load(); c != 0 || f != 0 {
		t.Errorf("canceled, failed = %d, %d; want 0, 0", c, f)
	}
	lines := ts.out.Lines()
	names := greetings(t, ts.out)
	if len(names) != 30 {
		t.Fatalf("greetings = %d, want 30", len(names))
	}
	first := slices.Clone(names[:8])
	slices.Sort(first)
	var want []string
	for i := range 8 {
		want = append(want, "job-"+strconv.Itoa(i+1))
	}
	slices.Sort(want)
	if !slices.Equal(first, want) {
		t.Errorf("the first 8 greetings = %q, want jobs 1 to 8 in any order", names[:8])
	}
	worker, _, _ := strings.Cut(lines[8], ":")
	for i := 8; i < 30; i++ {
		if want := "job-" + strconv.Itoa(i+1); names[i] != want {
			t.Errorf("greeting %d after the shrink = %q, want %q (strict id order)", i+1, names[i], want)
		}
		if w, _, _ := strings.Cut(lines[i], ":"); w != worker {
			t.Errorf("greeting %d is by %s, want %s: one worker after the shrink", i+1, w, worker)
		}
	}
}

// burstRecord is what the burst's Work records as each job starts.
type burstRecord struct {
	mu      sync.Mutex    // guards the fields below
	running map[int]bool  // worker numbers whose job's work is running
	byW     map[int][]int // the seqs each worker number ran, in start order
	runs    map[int]int   // how many times each seq ran
	worker  map[int]int   // the worker number each seq ran on
	errs    []string      // worker numbers found running twice at once
}

func (b *burstRecord) work(ctx context.Context, r *WorkRequest) error {
	w, seq := workerOf(r), int(r.Seq)
	b.mu.Lock()
	if b.running[w] {
		b.errs = append(b.errs, fmt.Sprintf("job %d started on worker%d while another job ran there", seq, w))
	}
	b.running[w] = true
	b.byW[w] = append(b.byW[w], seq)
	b.runs[seq]++
	b.worker[seq] = w
	b.mu.Unlock()
	runtime.Gosched() // a window for another job on the same number to show

	b.mu.Lock()
	b.running[w] = false
	b.mu.Unlock()
	return nil
}

// sampleGauges reads GET /workers and /metrics at base until stop is
// closed, and returns every reading that lied: busy above workers, or a
// count below zero.
func sampleGauges(base string, stop <-chan struct{}) (lies []string, samples int) {
	for {
		select {
		case <-stop:
			return lies, samples
		default:
		}
		d, err := getPool(base)
		if err != nil {
			return append(lies, err.Error()), samples
		}
		if d.Busy > d.Workers || d.Busy < 0 || d.Workers < 0 || d.Target < 1 {
			lies = append(lies, fmt.Sprintf("GET /workers: %+v", d))
		}
		workers, busy, err := metricsPool(base)
		if err != nil {
			return append(lies, err.Error()), samples
		}
		if busy > workers || busy < 0 || workers < 0 {
			lies = append(lies, fmt.Sprintf("/metrics: workqueue_workers %d, workqueue_workers_busy %d", workers, busy))
		}
		samples++
	}
}

// TestResizeBurst resizes the pool 100 times, at random between 1 and 16
// workers, during a burst of 5,000 no-op jobs: every job runs exactly once,
// each worker takes its jobs in the order the dispatcher hands them out
// (FIFO, so increasing ids), no worker number runs two jobs at once, and
// GET /workers and /metrics never show busy above workers or a negative
// count. After the burst the pool settles at the last target.
func TestResizeBurst(t *testing.T) {
	const jobs, resizes = 5000, 100
	cfg := testConfig()
	cfg.Workers, cfg.Queue, cfg.LogLevel = 4, jobs, slog.LevelInfo
	rec := &burstRecord{running: map[int]bool{}, byW: map[int][]int{}, runs: map[int]int{}, worker: map[int]int{}}
	ts := newTestServer(t, cfg, rec.work)
	base := httpServer(t, ts)

	stop := make(chan struct{})
	var lies []string
	var samples int
	var wg sync.WaitGroup
	wg.Go(func() { lies, samples = sampleGauges(base, stop) })
	rng := rand.New(rand.NewPCG(12, 5000))
	target := cfg.Workers
	for i := range jobs {
		if rec := ts.submit("j-"+strconv.Itoa(i+1), "0s"); rec.Code != http.StatusCreated {
			t.Fatalf("POST /work: status = %d, want 201", rec.Code)
		}
		if (i+1)%(jobs/resizes) == 0 {
			target = 1 + rng.IntN(16)
			mustResize(t, base, target)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		d, err := getPool(base)
		if err != nil {
			t.Fatal(err)
		}
		if d.Workers == target && d.Busy == 0 && ts.stats.Done.Load() == jobs {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute after the burst: GET /workers = %+v, %d done; want %d workers, 0 busy, %d done", d, ts.stats.Done.Load(), target, jobs)
		}
		time.Sleep(10 * time.Millisecond) // the poll's interval, not a synchronisation
	}
	close(stop)
	wg.Wait()
	drainNow(t, ts)

	for _, l := range lies {
		t.Errorf("the gauges lied: %s", l)
	}
	t.Logf("%d samples of GET /workers and /metrics", samples)
	for _, e := range rec.errs {
		t.Error(e)
	}
	for seq := 1; seq <= jobs; seq++ {
		if n := rec.runs[seq]; n != 1 {
			t.Errorf("job %d ran %d times, want 1", seq, n)
		}
	}
	for w, seqs := range rec.byW {
		if !slices.IsSorted(seqs) {
			t.Errorf("worker%d ran jobs out of hand-out order: %v", w, seqs)
		}
	}
	greeted := map[string]int{}
	for _, name := range greetings(t, ts.out) {
		greeted[name]++
	}
	for _, line := range ts.out.Lines() {
		var k, seq int
		if _, err := fmt.Sscanf(line, "worker%d: Hello, j-%d!", &k, &seq); err != nil || k != rec.worker[seq] {
			t.Errorf("greeting %q: want job %d greeted by worker%d, its worker when it started", line, seq, rec.worker[seq])
		}
	}
	for i := range jobs {
		if name := "j-" + strconv.Itoa(i+1); greeted[name] != 1 {
			t.Errorf("%s greeted %d times, want 1", name, greeted[name])
		}
	}
	if len(greeted) != jobs {
		t.Errorf("names greeted = %d, want %d", len(greeted), jobs)
	}
}

// TestPutWorkersBadValues checks that PUT /workers refuses what is not a
// number of workers from 0 to -max-workers with a 400 that says what to
// send, and leaves the pool as it was.
func TestPutWorkersBadValues(t *testing.T) {
	tests := []struct {
		name, target, contentType, body string
		max                             int    // -max-workers; 0 for the default
		wantInError                     string // in the 400's message
	}{
		{"negative", "/workers?workers=-1", "", "", 0, "from 0 to 1024"},
		{"above the default max", "/workers?workers=1025", "", "", 0, "from 0 to 1024"},
		{"not a number", "/workers?workers=abc", "", "", 0, "say how many workers"},
		{"empty body", "/workers", "", "", 0, "say how many workers"},
		{"empty JSON body", "/workers", "application/json", "", 0, "say how many workers"},
		{"JSON string", "/workers", "application/json", `{"workers":"8"}`, 0, "say how many workers"},
		{"JSON unknown field", "/workers", "application/json", `{"workers":8,"extra":1}`, 0, "say how many workers"},
		{"JSON null", "/workers", "application/json", `{"workers":null}`, 0, "say how many workers"},
		{"JSON two values", "/workers", "application/json", `{"workers":8}{"workers":9}`, 0, "say how many workers"},
		{"form negative", "/workers", "application/x-www-form-urlencoded", "workers=-2", 0, "from 0 to 1024"},
		{"form not a number", "/workers", "application/x-www-form-urlencoded", "workers=eight", 0, "say how many workers"},
		{"above -max-workers 4", "/workers?workers=5", "", "", 4, "from 0 to 4 (-max-workers), not 5"},
		{"JSON above -max-workers 4", "/workers", "application/json", `{"workers":5}`, 4, "from 0 to 4 (-max-workers), not 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Workers = 3
			if tt.max != 0 {
				cfg.MaxWorkers = tt.max
			}
			ts := newTestServer(t, cfg, Sleep)
			rec := ts.do("PUT", tt.target, tt.contentType, tt.body)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("PUT %s %q: status = %d, want 400; body %s", tt.target, tt.body, rec.Code, rec.Body)
			}
			if msg := decodeError(t, rec.Body.Bytes()); !strings.Contains(msg, tt.wantInError) {
				t.Errorf("error = %q, want it to contain %q", msg, tt.wantInError)
			}
			var d poolDoc
			json.Unmarshal(ts.do("GET", "/workers", "", "").Body.Bytes(), &d)
			if d.Target != 3 {
				t.Errorf("target after a refused resize = %d, want 3", d.Target)
			}
		})
	}
}

// TestPutWorkersForms checks each way to say the number: JSON, a form
// field, the query, and a form field over the query.
func TestPutWorkersForms(t *testing.T) {
	tests := []struct {
		name, target, contentType, body string
		want                            int
	}{
		{"JSON", "/workers", "application/json", `{"workers": 5}`, 5},
		{"JSON with charset", "/workers", "application/json; charset=utf-8", `{"workers": 6}`, 6},
		{"form", "/workers", "application/x-www-form-urlencoded", "workers=7", 7},
		{"query", "/workers?workers=2", "", "", 2},
		{"form over query", "/workers?workers=2", "application/x-www-form-urlencoded", "workers=9", 9},
		{"the max", "/workers?workers=1024", "", "", 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, testConfig(), Sleep)
			rec := ts.do("PUT", tt.target, tt.contentType, tt.body)
			if rec.Code != http.StatusOK {
				t.Fatalf("PUT %s %q: status = %d, want 200; body %s", tt.target, tt.body, rec.Code, rec.Body)
			}
			var d poolDoc
			if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || d.Target != tt.want || d.Workers < tt.want {
				t.Errorf("PUT answered %s (%v), want target %d and at least as many workers", rec.Body, err, tt.want)
			}
		})
	}
}

func TestWorkersMethodNotAllowed(t *testing.T) {
	ts := newTestServer(t, testConfig(), Sleep)
	for _, method := range []string{"POST", "DELETE", "PATCH"} {
		rec := ts.do(method, "/workers?workers=3", "", "")
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, PUT" {
			t.Errorf("%s /workers: %d, Allow %q; want 405, Allow %q", method, rec.Code, rec.Header().Get("Allow"), "GET, PUT")
		}
	}
}

// TestResizeDuringDrain resizes the pool, up and down, while a drain waits
// for the jobs still held: the drain ends normally with every job run, and
// a PUT once the dispatcher has taken its workers back answers 503.
func TestResizeDuringDrain(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 4
	started := make(chan *WorkRequest, 20)
	g := newGate(started)
	ts := newTestServer(t, cfg, g.work)
	base := httpServer(t, ts)
	for i := range 20 {
		if rec := ts.submit("job-"+strconv.Itoa(i+1), "0s"); rec.Code != http.StatusCreated {
			t.Fatalf("POST /work: status = %d, want 201", rec.Code)
		}
	}
	receive(t, started, 4)
	drained := make(chan error, 1)
	go func() { drained <- ts.drain(context.Background()) }()
	for _, n := range []int{1, 8, 2, 16, 3} {
		code, body, err := putPool(base, n)
		if err != nil || (code != http.StatusOK && code != http.StatusServiceUnavailable) {
			t.Fatalf("PUT /workers?workers=%d during the drain: %d %s %v; want 200, or 503 once the workers stop", n, code, body, err)
		}
	}
	close(g.open)
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the drain did not end within a minute of the jobs being released")
	}
	if got := len(greetings(t, ts.out)); got != 20 {
		t.Errorf("greetings = %d, want 20: every accepted job runs", got)
	}
	code, body, err := putPool(base, 4)
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("PUT /workers after the drain: %d %s %v; want 503 saying the server is shutting down", code, body, err)
	}
	if d, err := getPool(base); err != nil || d.Workers != 0 || d.Busy != 0 {
		t.Errorf("GET /workers after the drain = %+v, %v; want 0 workers, 0 busy", d, err)
	}
}

// BenchmarkResize measures how long a resize takes to show on an idle
// server: PUT /workers one up, until GET /workers shows it, then back
// down, until GET /workers shows that (the target: within 10 ms). One op is
// both, over loopback HTTP.
func BenchmarkResize(b *testing.B) {
	cfg := testConfig()
	cfg.Workers, cfg.LogLevel = 2, slog.LevelWarn
	s := newServer(cfg, Sleep, io.Discard, slog.New(slog.DiscardHandler))
	s.start()
	defer s.drain(context.Background())
	srv := httptest.NewServer(s.handler)
	defer srv.Close()
	for b.Loop() {
		for _, n := range []int{3, 2} {
			if code, body, err := putPool(srv.URL, n); err != nil || code != http.StatusOK {
				b.Fatalf("PUT /workers?workers=%d: %d %s %v", n, code, body, err)
			}
			for {
				d, err := getPool(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				if d.Workers == n {
					break
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/resize")
}
