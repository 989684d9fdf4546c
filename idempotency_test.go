package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"workqueue/internal/testutil"
)

// submitKey posts a job of name and delay as a form with the Idempotency-Key
// header values keys, straight to h.
func submitKey(h http.Handler, name, delay string, keys ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/work", strings.NewReader("name="+urlEscape(name)+"&delay="+urlEscape(delay)))
	req.Header.Set("Content-Type", form)
	req.Header["Idempotency-Key"] = keys
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestIdempotencyKeyRetries sends one key three times and checks one job is
// made: the second and third answers are 201 with the first's Location and
// Idempotent-Replayed: true, and one greeting is printed.
func TestIdempotencyKeyRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := newTestServer(t, testConfig(), Sleep)
		var first string
		for i := range 3 {
			rec := submitKey(ts.handler, "Alice", "1s", "retry-1")
			if rec.Code != http.StatusCreated {
				t.Fatalf("POST %d: status = %d, want 201; body %s", i+1, rec.Code, rec.Body)
			}
			loc, replayed := rec.Header().Get("Location"), rec.Header().Get("Idempotent-Replayed")
			if i == 0 {
				first = loc
				if replayed != "" {
					t.Errorf("POST 1: Idempotent-Replayed = %q, want none", replayed)
				}
				continue
			}
			if loc != first || replayed != "true" {
				t.Errorf("POST %d: Location %q, Idempotent-Replayed %q; want %q, true", i+1, loc, replayed, first)
			}
			if j := decodeJob(t, rec.Body.Bytes()); "/work/"+j.ID != first || j.Name != "Alice" {
				t.Errorf("POST %d: job %s named %q, want the job at %s, Alice", i+1, j.ID, j.Name, first)
			}
		}
		if got := ts.stats.Accepted.Load(); got != 1 {
			t.Errorf("accepted = %d, want 1", got)
		}
		if err := ts.drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := greetings(t, ts.out); len(got) != 1 {
			t.Errorf("greetings = %q, want one", got)
		}
	})
}

// TestIdempotencyKeyReplayShowsJobNow checks a retry answers with the job as
// it is now, not as it was first answered.
func TestIdempotencyKeyReplayShowsJobNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := newTestServer(t, testConfig(), Sleep)
		submitKey(ts.handler, "Bob", "1s", "k")
		time.Sleep(2 * time.Second) // fake time: the job is done
		synctest.Wait()
		rec := submitKey(ts.handler, "Bob", "1000ms", "k") // the same delay, written otherwise
		if j := decodeJob(t, rec.Body.Bytes()); rec.Code != http.StatusCreated || j.State != "done" {
			t.Errorf("retry after the job finished: %d, state %q; want 201, done", rec.Code, j.State)
		}
	})
}

// TestIdempotencyKeyOtherJob checks a key reused with another name or delay
// is 422, naming the job the key belongs to, and makes no job.
func TestIdempotencyKeyOtherJob(t *testing.T) {
	ts := newTestServer(t, testConfig(), newGate(nil).work)
	id := decodeJob(t, submitKey(ts.handler, "Alice", "1s", "k1").Body.Bytes()).ID
	for _, tt := range []struct{ name, delay string }{{"Bob", "1s"}, {"Alice", "2s"}, {"Alice", ""}} {
		rec := submitKey(ts.handler, tt.name, tt.delay, "k1")
		if rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("POST %s %s with the key of job %s: status = %d, want 422", tt.name, tt.delay, id, rec.Code)
			continue
		}
		if msg := decodeError(t, rec.Body.Bytes()); !strings.Contains(msg, "job "+id) {
			t.Errorf("422 error = %q, want it to name job %s", msg, id)
		}
	}
	if got := ts.stats.Accepted.Load(); got != 1 {
		t.Errorf("accepted = %d, want 1", got)
	}
}

// TestIdempotencyKeyBad checks every malformed key is a 400 that says what a
// key must be, and makes no job; and that the longest good key is taken.
func TestIdempotencyKeyBad(t *testing.T) {
	ts := newTestServer(t, testConfig(), newGate(nil).work)
	tests := []struct {
		name string
		keys []string
	}{
		{"empty", []string{""}},
		{"256 bytes", []string{strings.Repeat("k", 256)}},
		{"258 bytes quoted", []string{`"` + strings.Repeat("k", 256) + `"`}},
		{"a space", []string{"a b"}},
		{"a space, quoted", []string{`"a b"`}},
		{"a tab", []string{"a\tb"}},
		{"a control character", []string{"a\x01b"}},
		{"DEL", []string{"a\x7fb"}},
		{"non-ASCII", []string{"clé"}},
		{"empty quotes", []string{`""`}},
		{"a lone quote", []string{`"`}},
		{"unbalanced quote at the start", []string{`"abc`}},
		{"unbalanced quote at the end", []string{`abc"`}},
		{"escaped closing quote", []string{`"abc\"`}},
		{"a bad escape", []string{`"a\x"`}},
		{"an unescaped quote inside quotes", []string{`"a"b"`}},
		{"given twice", []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := submitKey(ts.handler, "Alice", "", tt.keys...)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("Idempotency-Key %q: status = %d, want 400", tt.keys, rec.Code)
			}
			if msg := decodeError(t, rec.Body.Bytes()); !strings.Contains(msg, "Idempotency-Key") {
				t.Errorf("error = %q, want it to say what Idempotency-Key must be", msg)
			}
		})
	}
	if got := ts.stats.Accepted.Load(); got != 0 {
		t.Errorf("accepted = %d, want 0", got)
	}
	for _, key := range []string{strings.Repeat("k", 255), `"` + strings.Repeat("q", 255) + `"`, "!~", `a"b`} {
		if rec := submitKey(ts.handler, "Alice", "", key); rec.Code != http.StatusCreated {
			t.Errorf("Idempotency-Key %.20q…: status = %d, want 201", key, rec.Code)
		}
	}
}

// TestIdempotencyKeyQuotedIsSame checks the sf-string form of a key is the
// same key as its content: "k" and k, "a\"b" and a"b.
func TestIdempotencyKeyQuotedIsSame(t *testing.T) {
	ts := newTestServer(t, testConfig(), newGate(nil).work)
	for _, pair := range [][2]string{{`"k"`, "k"}, {"q", `"q"`}, {`"a\"b\\c"`, `a"b\c`}} {
		first := submitKey(ts.handler, "Alice", "", pair[0])
		second := submitKey(ts.handler, "Alice", "", pair[1])
		if first.Code != http.StatusCreated || second.Code != http.StatusCreated ||
			second.Header().Get("Location") != first.Header().Get("Location") ||
			second.Header().Get("Idempotent-Replayed") != "true" {
			t.Errorf("keys %s then %s: %d %s, then %d %s replayed %q; want the second to replay the first",
				pair[0], pair[1], first.Code, first.Header().Get("Location"),
				second.Code, second.Header().Get("Location"), second.Header().Get("Idempotent-Replayed"))
		}
	}
	if got := ts.stats.Accepted.Load(); got != 3 {
		t.Errorf("accepted = %d, want 3", got)
	}
}

// TestIdempotencyKeyConcurrent sends 50 submissions with one key at once,
// over real HTTP, 20 times with a new key each time. Each round must make
// exactly one job, and every answer must be that job's 201 or a 409 with
// Retry-After: 1.
func TestIdempotencyKeyConcurrent(t *testing.T) {
	const rounds, clients = 20, 50
	ts := newTestServer(t, testConfig(), Sleep)
	hs := httptest.NewServer(ts.handler)
	defer hs.Close()
	hs.Client().Transport.(*http.Transport).MaxIdleConnsPerHost = clients
	type answer struct {
		status            int
		location, replay  string
		retryAfter, error string
	}
	for round := range rounds {
		key, name := fmt.Sprintf("round-%d", round), fmt.Sprintf("R%d", round)
		before := ts.stats.Accepted.Load()
		answers := make([]answer, clients)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range answers {
			wg.Go(func() {
				<-start
				req, _ := http.NewRequest("POST", hs.URL+"/work?name="+name, nil)
				req.Header.Set("Idempotency-Key", key)
				resp, err := hs.Client().Do(req)
				if err != nil {
					answers[i].error = err.Error()
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				answers[i] = answer{status: resp.StatusCode, location: resp.Header.Get("Location"),
					replay: resp.Header.Get("Idempotent-Replayed"), retryAfter: resp.Header.Get("Retry-After")}
			})
		}
		close(start)
		wg.Wait()
		if got := ts.stats.Accepted.Load() - before; got != 1 {
			t.Fatalf("round %d: %d jobs accepted, want 1", round, got)
		}
		made := 0
		var location string
		for i, a := range answers {
			switch {
			case a.status == http.StatusCreated && a.replay == "":
				made++
				location = a.location
			case a.status == http.StatusCreated && a.replay == "true":
			case a.status == http.StatusConflict && a.retryAfter == "1":
			default:
				t.Fatalf("round %d, client %d: %+v; want 201 or 409 with Retry-After: 1", round, i, a)
			}
		}
		for i, a := range answers {
			if a.status == http.StatusCreated && a.location != location {
				t.Fatalf("round %d, client %d: Location %q, want %q", round, i, a.location, location)
			}
		}
		if made != 1 {
			t.Fatalf("round %d: %d answers made a job, want 1", round, made)
		}
	}
	if err := ts.drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := greetings(t, ts.out); len(got) != rounds {
		t.Errorf("%d greetings, want %d: %q", len(got), rounds, got)
	}
}

// TestIdempotencyKeyNotBoundByRefusal checks a key whose first request was
// refused (503, queue full) binds nothing: its retry, once there is room,
// makes a new job.
func TestIdempotencyKeyNotBoundByRefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers, cfg.Queue = 1, 1
		g := newGate(nil)
		ts := newTestServer(t, cfg, g.work)
		fillers := 0
		for ; fillers < 10; fillers++ { // until the queue is full
			if rec := ts.submit(fmt.Sprint("filler", fillers), ""); rec.Code != http.StatusCreated {
				break
			}
			synctest.Wait()
		}
		if rec := submitKey(ts.handler, "Alice", "", "k"); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("POST to a full queue: status = %d, want 503", rec.Code)
		}
		if n := ts.keys.Len(); n != 0 {
			t.Errorf("after a 503, %d keys remembered, want 0", n)
		}
		close(g.open)
		synctest.Wait()
		rec := submitKey(ts.handler, "Alice", "", "k")
		if rec.Code != http.StatusCreated || rec.Header().Get("Idempotent-Replayed") != "" {
			t.Fatalf("retry with room: %d, Idempotent-Replayed %q; want 201, a new job", rec.Code, rec.Header().Get("Idempotent-Replayed"))
		}
		if got := ts.stats.Accepted.Load(); got != int64(fillers)+1 {
			t.Errorf("accepted = %d, want %d: the fillers and the retry", got, fillers+1)
		}
	})
}

// BenchmarkIngestKey is BenchmarkIngest with a new Idempotency-Key on every
// request: what the keys cost. Run both in one run and compare; or run
// BenchmarkIngestKeyPair, whose two halves share their client code.
func BenchmarkIngestKey(b *testing.B) {
	var next atomic.Int64
	benchIngestKeyed(b, func() string { return "key-" + strconv.FormatInt(next.Add(1), 10) })
}

// BenchmarkIngestKeyPair measures POST /work over loopback HTTP without a
// key and with a new key on every request, with the same client code, and
// reports the process's CPU time per request beside the wall time: on a
// shared machine the CPU time is the steadier measure.
func BenchmarkIngestKeyPair(b *testing.B) {
	b.Run("key=none", func(b *testing.B) { benchIngestKeyed(b, nil) })
	b.Run("key=fresh", BenchmarkIngestKey)
}

// benchIngestKeyed is benchIngest on a fresh server with the
// Idempotency-Key header set to key() on every request, or no header if key
// is nil. It also reports the process's CPU time per request.
func benchIngestKeyed(b *testing.B, key func() string) {
	s := newServer(testConfig(), Sleep, io.Discard, discardLogger())
	s.start()
	defer s.drain(context.Background())
	hs := httptest.NewServer(s.handler)
	defer hs.Close()
	tr := hs.Client().Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost = 256
	b.ReportAllocs()
	cpu := testutil.CPUTime(b)
	b.ResetTimer()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		client := hs.Client()
		for pb.Next() {
			req, _ := http.NewRequest("POST", hs.URL+"/work", strings.NewReader("name=bench&delay=0s"))
			req.Header["Content-Type"] = []string{form}
			if key != nil {
				req.Header["Idempotency-Key"] = []string{key()}
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusServiceUnavailable {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(testutil.CPUTime(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkCollectorKey measures the Collector alone, with no network, on a
// running server with 0s jobs: without a key and with a new key on every
// request. The difference is what a key costs in the handler.
func BenchmarkCollectorKey(b *testing.B) {
	for _, keyed := range []bool{false, true} {
		b.Run(fmt.Sprint("key=", keyed), func(b *testing.B) {
			cfg := testConfig()
			cfg.Queue = 10_000
			s := newServer(cfg, Sleep, io.Discard, discardLogger())
			s.start()
			defer s.drain(context.Background())
			const body = "name=bench&delay=0s"
			refused := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				req := &http.Request{
					Method:        "POST",
					URL:           &url.URL{Path: "/work"},
					Header:        http.Header{"Content-Type": {form}},
					Body:          io.NopCloser(strings.NewReader(body)),
					ContentLength: int64(len(body)),
				}
				if keyed {
					req.Header["Idempotency-Key"] = []string{"key-" + strconv.Itoa(i)}
				}
				w := testutil.NewStatusRecorder()
				s.handler.ServeHTTP(w, req)
				if w.Status == http.StatusServiceUnavailable {
					refused++
				}
			}
			b.ReportMetric(float64(refused)/float64(b.N), "refused/op")
		})
	}
}
