package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"workqueue/internal/job"
)

// claimAnswer is the body of a 200 to POST /work/claim.
type claimAnswer struct {
	Job            job.View  `json:"job"`
	Lease          string    `json:"lease"`
	LeaseExpiresAt time.Time `json:"lease_expires_at"`
}

// claim sends POST /work/claim?query to ts under ctx and returns the
// recorder.
func (ts *testServer) claim(ctx context.Context, query string) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/work/claim?"+query, nil)
	rec := httptest.NewRecorder()
	ts.handler.ServeHTTP(rec, req)
	return rec
}

// TestClaimsGivingUpTakeNothing runs jobs through one local worker and many
// remote claimants that give up all the time, by their wait ending and by
// their client hanging up, often just as the dispatcher hands them a job,
// and checks job for job that every job ran exactly once, with one attempt:
// a claim that gave up took nothing, and no job was lost or counted twice.
func TestClaimsGivingUpTakeNothing(t *testing.T) {
	const jobs = 600
	cfg := testConfig()
	cfg.Workers = 1
	cfg.Queue = jobs
	ts := newTestServer(t, cfg, func(ctx context.Context, r *WorkRequest) error { time.Sleep(100 * time.Microsecond); return nil })
	var (
		mu     sync.Mutex
		remote = map[string]int{} // job id → times a claimant got it
		stop   atomic.Bool
		wg     sync.WaitGroup
	)
	for c := range 16 {
		wg.Go(func() {
			for !stop.Load() {
				ctx, cancel := context.WithCancel(t.Context())
				if rand.IntN(2) == 0 { // hang up at a random instant
					time.AfterFunc(time.Duration(rand.IntN(200))*time.Microsecond, cancel)
				}
				rec := ts.claim(ctx, fmt.Sprintf("wait=%dus&worker=c%d", rand.IntN(300), c))
				hungUp := ctx.Err() != nil
				cancel()
				switch {
				case hungUp && rec.Body.Len() == 0: // nothing written to a client gone
					continue
				case rec.Code == http.StatusOK:
				case rec.Code == http.StatusNoContent:
					continue
				default:
					t.Errorf("claim: %d %s", rec.Code, rec.Body)
					return
				}
				var a claimAnswer
				if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
					t.Errorf("claim: %v in %s", err, rec.Body)
					return
				}
				mu.Lock()
				remote[a.Job.ID]++
				mu.Unlock()
				if d := ts.do("POST", "/work/"+a.Job.ID+"/done?lease="+a.Lease, "", ""); d.Code != http.StatusOK {
					t.Errorf("done %s: %d %s", a.Job.ID, d.Code, d.Body)
				}
			}
		})
	}
	var ids []string
	for i := range jobs {
		rec := ts.submit(fmt.Sprintf("j%03d", i), "")
		if rec.Code != http.StatusCreated {
			t.Fatalf("POST /work: %d %s", rec.Code, rec.Body)
		}
		ids = append(ids, decodeJob(t, rec.Body.Bytes()).ID)
	}
	deadline := time.Now().Add(time.Minute)
	for ts.stats.Done.Load() < jobs && time.Now().Before(deadline) && !t.Failed() {
		time.Sleep(5 * time.Millisecond) // a poll with a deadline
	}
	stop.Store(true)
	wg.Wait()
	if err := ts.drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	local := map[string]int{}
	for _, g := range greetings(t, ts.out) {
		local[g]++
	}
	for i, id := range ids {
		r := ts.jobs.Get(id)
		name := fmt.Sprintf("j%03d", i)
		if n := local[name] + remote[id]; n != 1 {
			t.Errorf("job %s ran %d times (local %d, remote %d)", id, n, local[name], remote[id])
		}
		if st := r.Status(); st.State != job.Done || st.Attempts != 1 {
			t.Errorf("job %s: state %s, attempts %d; want done, 1", id, st.State, st.Attempts)
		}
	}
	if len(remote) == 0 || len(local) == 0 {
		t.Errorf("remote claimants ran %d jobs, the local worker %d: want both to run some", len(remote), len(local))
	}
	if n := ts.pool.RemoteWaiting(); n != 0 {
		t.Errorf("remote_waiting = %d after every claim ended", n)
	}
}

// TestClaimParams checks the claim's 400s, each naming the parameter, and
// that a refused claim takes nothing.
func TestClaimParams(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 0
	ts := newTestServer(t, cfg, Sleep)
	if rec := ts.submit("Alice", ""); rec.Code != http.StatusCreated {
		t.Fatalf("POST /work: %d", rec.Code)
	}
	for _, c := range []struct{ query, body, ctype, want string }{
		{"wait=61s", "", "", "wait"},
		{"wait=-1s", "", "", "wait"},
		{"wait=soon", "", "", "wait"},
		{"lease=500ms", "", "", "lease"},
		{"lease=2h", "", "", "lease"},
		{"worker=" + strings.Repeat("w", 65), "", "", "worker"},
		{"worker=a%20b", "", "", "worker"},
		{"queue=emails", "", "", `"queue"`},
		{"", "priority=high", "application/x-www-form-urlencoded", `"priority"`},
		{"", `{"wait": "1s", "lease": 5}`, "application/json", "lease"},
		{"", `{"wait": "1s", "nope": 1}`, "application/json", `"nope"`},
		{"wait=1s&wait=2s", "", "", "wait"},
	} {
		rec := ts.do("POST", "/work/claim?"+c.query, c.ctype, c.body)
		if rec.Code != http.StatusBadRequest || !strings.Contains(decodeError(t, rec.Body.Bytes()), c.want) {
			t.Errorf("claim ?%s %s: %d %s, want 400 naming %s", c.query, c.body, rec.Code, rec.Body, c.want)
		}
	}
	if st := ts.jobs.Get("1").Status(); st.State != job.Queued || st.Attempts != 0 {
		t.Errorf("after refused claims: job is %s with %d attempts, want queued, 0", st.State, st.Attempts)
	}
	rec := ts.do("POST", "/work/claim", "application/json", `{"wait": "1s", "lease": "5s", "worker": "box-1"}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("claim: %d %s", rec.Code, rec.Body)
	}
	var a claimAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if a.Job.ClaimedBy != "box-1" || a.Job.State != "running" || a.Job.Attempts != 1 || a.Job.Worker != 0 || len(a.Lease) < 20 {
		t.Errorf("claim answered %s", rec.Body)
	}
	if d := time.Until(a.LeaseExpiresAt); d < 3*time.Second || d > 5*time.Second {
		t.Errorf("lease_expires_at %s is %s from now, want about 5s", a.LeaseExpiresAt, d)
	}
	if rec := ts.do("POST", "/work/claim?wait=1ms", "", ""); rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Errorf("claim of an empty queue: %d %q, want 204 with no body", rec.Code, rec.Body)
	}
}

// TestLeaseCalls checks heartbeat, done and fail: a stale or wrong lease is
// 409 naming the job's state and changes nothing, an unknown job 404, and a
// fail with retry=false fails the job at once.
func TestLeaseCalls(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 0
	cfg.Command = []string{"true"} // retries apply
	cfg.Retries = 3
	ts := newTestServer(t, cfg, Sleep)
	ts.submit("a", "")
	a := mustClaim(t, ts, "lease=10s")
	for _, call := range []string{"heartbeat", "done", "fail?error=x"} {
		sep := "?"
		if strings.Contains(call, "?") {
			sep = "&"
		}
		if rec := ts.do("POST", "/work/"+a.Job.ID+"/"+call+sep+"lease=wrong", "", ""); rec.Code != http.StatusConflict ||
			!strings.Contains(decodeError(t, rec.Body.Bytes()), "running") {
			t.Errorf("%s with a wrong lease: %d %s, want 409 naming running", call, rec.Code, rec.Body)
		}
		if rec := ts.do("POST", "/work/99/"+call+sep+"lease="+a.Lease, "", ""); rec.Code != http.StatusNotFound {
			t.Errorf("%s of an unknown job: %d, want 404", call, rec.Code)
		}
	}
	if rec := ts.do("POST", "/work/"+a.Job.ID+"/fail?lease="+a.Lease, "", ""); rec.Code != http.StatusBadRequest {
		t.Errorf("fail without error: %d, want 400", rec.Code)
	}
	if rec := ts.do("POST", "/work/"+a.Job.ID+"/heartbeat", "application/x-www-form-urlencoded", "lease="+a.Lease); rec.Code != http.StatusOK ||
		!strings.Contains(rec.Body.String(), "lease_expires_at") {
		t.Errorf("heartbeat: %d %s", rec.Code, rec.Body)
	}
	rec := ts.do("POST", "/work/"+a.Job.ID+"/fail", "application/json", `{"lease": "`+a.Lease+`", "error": "disk full", "output": "oops", "retry": false}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("fail: %d %s", rec.Code, rec.Body)
	}
	if v := decodeJob(t, rec.Body.Bytes()); v.State != "failed" || v.Error != "disk full" || v.Output == nil || *v.Output != "oops" {
		t.Errorf("after fail retry=false: %s", rec.Body)
	}
	if rec := ts.do("POST", "/work/"+a.Job.ID+"/done?lease="+a.Lease, "", ""); rec.Code != http.StatusConflict ||
		!strings.Contains(decodeError(t, rec.Body.Bytes()), "failed") {
		t.Errorf("done after fail: %d %s, want 409 naming failed", rec.Code, rec.Body)
	}

	// A fail with retries left queues the job again, attempt counted; a
	// DELETE of a leased job cancels it at once, and its heartbeat is 409.
	ts.submit("b", "")
	b := mustClaim(t, ts, "")
	if rec := ts.do("POST", "/work/"+b.Job.ID+"/fail?error=flaky&lease="+b.Lease, "", ""); rec.Code != http.StatusOK ||
		decodeJob(t, rec.Body.Bytes()).State != "queued" {
		t.Errorf("fail with retries left: %d %s, want 200 queued", rec.Code, rec.Body)
	}
	ts.submit("c", "")
	c := mustClaim(t, ts, "wait=5s")
	if c.Job.Name != "c" {
		t.Fatalf("claimed %s, want c (b waits out its backoff)", c.Job.Name)
	}
	if rec := ts.do("DELETE", "/work/"+c.Job.ID, "", ""); rec.Code != http.StatusOK {
		t.Fatalf("DELETE: %d %s", rec.Code, rec.Body)
	}
	if rec := ts.do("POST", "/work/"+c.Job.ID+"/heartbeat?lease="+c.Lease, "", ""); rec.Code != http.StatusConflict ||
		!strings.Contains(decodeError(t, rec.Body.Bytes()), "canceled") {
		t.Errorf("heartbeat after DELETE: %d %s, want 409 naming canceled", rec.Code, rec.Body)
	}
	if n := ts.remote.Running(); n != 0 {
		t.Errorf("remote_running = %d, want 0", n)
	}
}

// TestLeaseExpiry checks that a lease not renewed ends its attempt as
// failed with "lease expired", retried as any failed attempt, counted in
// leases_expired_total, and that a heartbeat keeps a lease alive past its
// first term.
func TestLeaseExpiry(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 0
	ts := newTestServer(t, cfg, Sleep)
	ts.submit("a", "")
	ts.submit("b", "")
	a := mustClaim(t, ts, "lease=1s")
	b := mustClaim(t, ts, "lease=1s")
	hb := time.NewTicker(300 * time.Millisecond)
	defer hb.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for ts.jobs.Get(a.Job.ID).State() == job.Running && time.Now().Before(deadline) {
		<-hb.C
		if rec := ts.do("POST", "/work/"+b.Job.ID+"/heartbeat?lease="+b.Lease, "", ""); rec.Code != http.StatusOK {
			t.Fatalf("heartbeat of b: %d %s", rec.Code, rec.Body)
		}
	}
	st := ts.jobs.Get(a.Job.ID).Status()
	if st.State != job.Failed || st.Err != "lease expired" {
		t.Errorf("a after its lease ran out: %s %q, want failed, lease expired", st.State, st.Err)
	}
	if st := ts.jobs.Get(b.Job.ID).State(); st != job.Running {
		t.Errorf("b, heartbeating: %s, want running", st)
	}
	if rec := ts.do("POST", "/work/"+a.Job.ID+"/done?lease="+a.Lease, "", ""); rec.Code != http.StatusConflict {
		t.Errorf("done after expiry: %d, want 409", rec.Code)
	}
	if n := ts.remote.Expired(); n != 1 {
		t.Errorf("leases expired = %d, want 1", n)
	}
	if rec := ts.do("POST", "/work/"+b.Job.ID+"/done?lease="+b.Lease, "", ""); rec.Code != http.StatusOK {
		t.Errorf("done of b: %d %s", rec.Code, rec.Body)
	}
}

// mustClaim claims a job from ts with query, and fails the test without one.
func mustClaim(t *testing.T, ts *testServer, query string) claimAnswer {
	t.Helper()
	if !strings.Contains(query, "wait=") {
		query += "&wait=5s"
	}
	rec := ts.claim(t.Context(), query)
	if rec.Code != http.StatusOK {
		t.Fatalf("claim ?%s: %d %s", query, rec.Code, rec.Body)
	}
	var a claimAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	return a
}
