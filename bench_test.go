package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"workqueue/internal/hostguard"
	"workqueue/internal/testutil"
)

// The benchmarks come in pairs, each measured against a baseline in the same
// run, since the machines they run on are shared and noisy:
//
//	BenchmarkIngest    / BenchmarkIngestBare      POST /work over loopback HTTP
//	BenchmarkDispatch  / BenchmarkDispatchBaseline WorkQueue → dispatcher → worker
//	BenchmarkSchedule                              400 jobs of 10ms on 4 workers
//
// scripts/bench.sh runs them and prints the ratios.

// discardLogger logs nothing, as the server does at its default level for
// per-job events.
func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// benchIngest posts form submissions over real loopback HTTP with
// keep-alive clients, in parallel, to the handler that handler returns for
// the address it is served on, and reports how many were refused and the
// process's CPU time per request (on a shared machine, the steadier
// measure).
func benchIngest(b *testing.B, handler func(ln net.Addr) http.Handler) {
	hs := httptest.NewUnstartedServer(nil)
	hs.Config.Handler = handler(hs.Listener.Addr())
	hs.Start()
	defer hs.Close()
	tr := hs.Client().Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost = 256
	var refused atomic.Int64
	b.ReportAllocs()
	cpu := testutil.CPUTime(b)
	b.ResetTimer()
	b.SetParallelism(32) // 64 clients on 2 cores, as wrk -c64
	b.RunParallel(func(pb *testing.PB) {
		client := hs.Client()
		for pb.Next() {
			resp, err := client.Post(hs.URL+"/work", form, strings.NewReader("name=bench&delay=0s"))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusCreated:
			case http.StatusServiceUnavailable:
				refused.Add(1)
			default:
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(refused.Load())/float64(b.N), "refused/op")
	b.ReportMetric(float64(testutil.CPUTime(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkIngest measures POST /work on the real server with 0s jobs,
// behind the Host check, as serve wraps it.
func BenchmarkIngest(b *testing.B) {
	s := newServer(testConfig(), Sleep, io.Discard, discardLogger())
	s.start()
	defer s.drain(context.Background())
	benchIngest(b, func(ln net.Addr) http.Handler { return hostguard.Handler(ln, nil, s.handler) })
}

// BenchmarkIngestBare is Ingest's baseline: a bare handler that parses the
// same form and answers 201, with no queue behind it.
func BenchmarkIngestBare(b *testing.B) {
	benchIngest(b, func(net.Addr) http.Handler { return http.HandlerFunc(bareHandler) })
}

// bareHandler parses a job's form and answers 201, doing nothing with it.
func bareHandler(w http.ResponseWriter, r *http.Request) {
	if r.FormValue("name") == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// BenchmarkRefuse measures the Collector's answer to a submission when
// WorkQueue is full: parsing, validation and the 503, with no network.
func BenchmarkRefuse(b *testing.B) {
	cfg := testConfig()
	cfg.Workers, cfg.Queue = 1, 1
	g := newGate(nil)
	s := newServer(cfg, g.work, io.Discard, discardLogger())
	s.start()
	defer func() { close(g.open); s.drain(context.Background()) }()
	// Fill the worker and the queue (the job the dispatcher holds counts as
	// waiting). The worker holds its job until the benchmark ends, and Push
	// refuses the second job until the first has started, so once both are
	// accepted the queue stays full.
	for s.stats.Accepted.Load() < int64(cfg.Workers+cfg.Queue) {
		s.queue.Push(&WorkRequest{ID: "0", Name: "filler", EnqueuedAt: time.Now()})
		runtime.Gosched()
	}
	const body = "name=bench&delay=1s"
	b.ReportAllocs()
	for b.Loop() {
		req := &http.Request{
			Method:        "POST",
			URL:           &url.URL{Path: "/work"},
			Header:        http.Header{"Content-Type": {form}},
			Body:          io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)),
		}
		w := testutil.NewStatusRecorder()
		s.handler.ServeHTTP(w, req)
		if w.Status != http.StatusServiceUnavailable {
			b.Fatalf("status %d, want 503", w.Status)
		}
	}
}

// BenchmarkDispatch measures a no-op job's way through the real WorkQueue,
// dispatcher and worker, greeting and bookkeeping included.
func BenchmarkDispatch(b *testing.B) {
	cfg := testConfig()
	noop := func(context.Context, *WorkRequest) error { return nil }
	s := newServer(cfg, noop, io.Discard, discardLogger())
	s.start()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r := &WorkRequest{ID: "1", Name: "bench", EnqueuedAt: time.Now()}
		for s.queue.Push(r) != nil {
			runtime.Gosched() // the queue is full: let the dispatcher catch up
		}
	}
	s.drain(context.Background())
	b.StopTimer()
	if got := s.stats.Done.Load(); got != int64(b.N) {
		b.Fatalf("%d jobs done, want %d", got, b.N)
	}
}

// BenchmarkDispatchBaseline is Dispatch's baseline: a bare pipeline of the
// same shape (a buffered queue, one dispatcher, workers reached through a
// channel of their channels) whose workers only count the jobs.
func BenchmarkDispatchBaseline(b *testing.B) {
	cfg := testConfig()
	queue := make(chan *WorkRequest, cfg.Queue)
	workerQueue := make(chan chan *WorkRequest, cfg.Workers)
	var done atomic.Int64
	var wg sync.WaitGroup
	for range cfg.Workers {
		work := make(chan *WorkRequest)
		wg.Go(func() {
			for {
				workerQueue <- work
				if _, ok := <-work; !ok {
					return
				}
				done.Add(1)
			}
		})
	}
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		for r := range queue {
			(<-workerQueue) <- r
		}
		for range cfg.Workers {
			close(<-workerQueue)
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := &WorkRequest{ID: "1", Name: "bench", EnqueuedAt: time.Now()}
		for {
			select {
			case queue <- r:
			default:
				runtime.Gosched()
				continue
			}
			break
		}
	}
	close(queue)
	<-dispatched
	wg.Wait()
	b.StopTimer()
	if got := done.Load(); got != int64(b.N) {
		b.Fatalf("%d jobs done, want %d", got, b.N)
	}
}

// BenchmarkSchedule runs 400 jobs of 10ms on 4 workers, whose ideal is 1s,
// and reports the efficiency: the ideal time over the time taken. Timers
// fire late by a little on any machine, so it also reports the efficiency of
// 4 bare goroutines sleeping 100 times 10ms each, measured alongside: what
// this machine allows.
func BenchmarkSchedule(b *testing.B) {
	const jobs, workers, delay = 400, 4, 10 * time.Millisecond
	ideal := jobs / workers * delay
	var took, bare time.Duration
	for b.Loop() {
		cfg := testConfig()
		cfg.Workers, cfg.Queue = workers, jobs
		s := newServer(cfg, Sleep, io.Discard, discardLogger())
		s.start()
		start := time.Now()
		for range jobs {
			if err := s.queue.Push(&WorkRequest{ID: "1", Name: "s", Delay: delay, EnqueuedAt: start}); err != nil {
				b.Fatal(err)
			}
		}
		s.drain(context.Background())
		took += time.Since(start)

		start = time.Now()
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range jobs / workers {
					time.Sleep(delay)
				}
			})
		}
		wg.Wait()
		bare += time.Since(start)
	}
	b.ReportMetric(float64(ideal)*float64(b.N)/float64(took), "efficiency")
	b.ReportMetric(float64(ideal)*float64(b.N)/float64(bare), "bare-efficiency")
	b.ReportMetric(took.Seconds()/float64(b.N), "s/run")
}

// BenchmarkClaimLatency measures claim-to-start latency over real loopback
// HTTP: a remote worker waits in POST /work/claim, a job is submitted, and
// the time from the job's acceptance (its enqueued_at) to the claimant
// holding the claim's 200 (the job handed out, its start counted, its lease
// made and the answer read) is one sample. It reports the median and the
// 99th percentile in milliseconds (p50-ms, p99-ms). Each job is then
// reported done, untimed.
func BenchmarkClaimLatency(b *testing.B) {
	cfg := testConfig()
	cfg.Workers = 0
	cfg.LogLevel = slog.LevelInfo
	s := newServer(cfg, Sleep, io.Discard, discardLogger())
	s.start()
	defer s.drain(context.Background())
	hs := httptest.NewServer(s.handler)
	defer hs.Close()
	client := hs.Client()
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		got := make(chan claimAnswer, 1)
		go func() {
			var a claimAnswer
			defer func() { got <- a }()
			resp, err := client.Post(hs.URL+"/work/claim?wait=10s", "", nil)
			if err != nil {
				b.Error(err)
				return
			}
			defer resp.Body.Close()
			if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
				b.Errorf("claim: %d %v", resp.StatusCode, err)
			}
			a.Job.FinishedAt = time.Now() // when the claimant held it
		}()
		for s.pool.RemoteWaiting() == 0 { // the claim is parked in WorkerQueue
			runtime.Gosched()
		}
		resp, err := client.PostForm(hs.URL+"/work", url.Values{"name": {"bench"}})
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		a := <-got
		if a.Lease == "" {
			b.Fatal("no job claimed")
		}
		samples = append(samples, a.Job.FinishedAt.Sub(a.Job.EnqueuedAt))
		b.StopTimer()
		resp, err = client.PostForm(hs.URL+"/work/"+a.Job.ID+"/done", url.Values{"lease": {a.Lease}})
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("done: %v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(samples)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(samples[len(samples)/2]), "p50-ms")
	b.ReportMetric(ms(samples[len(samples)*99/100]), "p99-ms")
}
