package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"workqueue/internal/job"
)

// kill9 kills the process with SIGKILL and waits for it to be gone.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGKILL)
	p.wait(t, 10*time.Second)
}

// getJob fetches a job by id from the process; ok is false on 404.
func (p *proc) getJob(t *testing.T, id string) (j struct {
	job.View
	Attempts int `json:"attempts"`
}, ok bool) {
	t.Helper()
	resp, err := http.Get(p.url + "/work/" + id)
	if err != nil {
		t.Fatalf("GET /work/%s: %v", id, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		return j, false
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /work/%s: status %d: %s", id, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &j); err != nil {
		t.Fatalf("GET /work/%s: %v: %s", id, err, body)
	}
	return j, true
}

// post submits a job and returns the status and, on 201, its id.
func (p *proc) post(t *testing.T, name, delay string) (int, string) {
	t.Helper()
	resp, err := http.PostForm(p.url+"/work", url.Values{"name": {name}, "delay": {delay}})
	if err != nil {
		t.Fatalf("POST %s: %v", name, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, strings.TrimPrefix(resp.Header.Get("Location"), "/work/")
}

// waitState polls the job until it is in state, failing after 10 s.
func (p *proc) waitState(t *testing.T, id, state string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if j, ok := p.getJob(t, id); ok && j.State == state {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	j, _ := p.getJob(t, id)
	t.Fatalf("job %s is %s, not %s, after 10s", id, j.State, state)
}

// TestJournalKill9UnderLoad runs the real binary with a journal through 20
// cycles of concurrent submissions and kill -9 at a random moment, restarting
// on the same directory each time, then drains it. Every name ever answered
// 201 printed its greeting at least once across all runs; no name answered
// anything else ever printed; and the names printed more than once are few
// (at most two per worker per kill: the jobs running, or finished but not yet
// journaled, when it died) and say attempts >= 2.
func TestJournalKill9UnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("20 kill -9 cycles of the real binary")
	}
	const cycles, clients, workers = 20, 8, 4
	dir := t.TempDir()
	load := newLoadClients(func(n int) string { return fmt.Sprintf("job-%d", n) },
		func() string { return fmt.Sprintf("%dms", rand.IntN(15)) })
	load.sent = make(chan struct{}, clients)
	accepted, refused := load.accepted, load.refused
	printed := map[string]int{}
	for cycle := range cycles + 1 {
		p := startBinary(t, "-journal", dir, "-n", strconv.Itoa(workers), "-queue", "1000")
		if cycle == cycles { // the last run: let it run what is left, then check
			waitUnfinished(t, p, 0)
			for _, name := range greetings(t, p.stdout) {
				printed[name]++
			}
			checkRepeats(t, p, printed, accepted, 2*workers*cycles)
			p.signal(t, syscall.SIGTERM)
			if code := p.wait(t, 30*time.Second); code != 0 {
				t.Fatalf("final drain exited %d:\n%s", code, p.stderr)
			}
			break
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			load.run(p, clients, stop)
		}()
		for range 20 + rand.IntN(200) { // submissions answered before the kill
			<-load.sent
		}
		p.kill9(t)
		close(stop)
		<-done
		for _, name := range greetings(t, p.stdout) {
			printed[name]++
		}
	}
	for name, id := range accepted {
		if printed[name] == 0 {
			t.Errorf("job %s (%s) answered 201 never printed its greeting", id, name)
		}
	}
	for name := range refused {
		if printed[name] > 0 {
			t.Errorf("job %s answered other than 201 printed its greeting", name)
		}
	}
	if len(accepted) < cycles*10 {
		t.Errorf("only %d jobs accepted in %d cycles: the load did not run", len(accepted), cycles)
	}
	t.Logf("%d accepted, %d refused, %d printed more than once", len(accepted), len(refused), countOver(printed, 1))
}

// loadClients posts jobs of unique names to a process from several
// goroutines until told to stop, recording each answer.
type loadClients struct {
	name  func(n int) string // the name of the nth job
	delay func() string      // a job's delay
	sent  chan struct{}      // if not nil, offered a token, without waiting, after each answer

	mu       sync.Mutex        // guards the fields below
	next     int               // the number of the next name
	accepted map[string]string // name → id, answered 201
	refused  map[string]bool   // answered anything else
}

// newLoadClients returns loadClients that name the nth job name(n) and give
// each job the delay delay().
func newLoadClients(name func(n int) string, delay func() string) *loadClients {
	return &loadClients{name: name, delay: delay, accepted: map[string]string{}, refused: map[string]bool{}}
}

// run posts to p from n goroutines until stop is closed, then returns once
// every one has. A submission with no answer is recorded as neither: its job
// may or may not exist.
func (l *loadClients) run(p *proc, n int, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			client := &http.Client{Timeout: 5 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				l.mu.Lock()
				l.next++
				name := l.name(l.next)
				l.mu.Unlock()
				resp, err := client.PostForm(p.url+"/work", url.Values{"name": {name}, "delay": {l.delay()}})
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				l.mu.Lock()
				if resp.StatusCode == http.StatusCreated {
					l.accepted[name] = strings.TrimPrefix(resp.Header.Get("Location"), "/work/")
				} else {
					l.refused[name] = true
				}
				l.mu.Unlock()
				select {
				case l.sent <- struct{}{}:
				default:
				}
			}
		})
	}
	wg.Wait()
}

// checkRepeats checks that at most max names were printed more than once,
// and that each such job, asked of p, says it was started more than once.
func checkRepeats(t *testing.T, p *proc, printed map[string]int, accepted map[string]string, max int) {
	t.Helper()
	var twice []string
	for name, n := range printed {
		if n > 1 {
			twice = append(twice, name)
		}
	}
	if len(twice) > max {
		t.Errorf("%d names printed more than once, want at most %d", len(twice), max)
	}
	for _, name := range twice {
		if j, ok := p.getJob(t, accepted[name]); ok && j.Attempts < 2 {
			t.Errorf("job %s (%s) printed %d times but says attempts %d", j.ID, name, printed[name], j.Attempts)
		}
	}
}

func countOver(m map[string]int, n int) int {
	c := 0
	for _, v := range m {
		if v > n {
			c++
		}
	}
	return c
}

// waitUnfinished polls the process's metrics until the jobs accepted but not
// finished (accepted, replayed ones included, less done, canceled and
// failed) number at most want. Queue length and busy workers would not do:
// with -journal a worker hands a completed job to the finisher and is idle
// before the job's line is written and the job done.
func waitUnfinished(t *testing.T, p *proc, want int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		unfinished := p.metric(t, "workqueue_jobs_accepted_total") -
			p.metric(t, `workqueue_jobs_finished_total{state="done"}`) -
			p.metric(t, `workqueue_jobs_finished_total{state="canceled"}`) -
			p.metric(t, `workqueue_jobs_finished_total{state="failed"}`)
		if unfinished <= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs unfinished after 30s, want at most %d", unfinished, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestJournalReplay kills the real binary with -n 1 while job 2 of 20 runs,
// one queued job canceled, and restarts it on the same journal: the jobs run
// in id order starting with job 2, the canceled one never, finished jobs
// answer GET with their state, and new ids continue above the old ones.
func TestJournalReplay(t *testing.T) {
	dir := t.TempDir()
	p := startBinary(t, "-journal", dir, "-n", "1")
	var ids []string
	for i := 1; i <= 20; i++ {
		delay := "0s"
		if i == 2 {
			delay = "2s"
		}
		code, id := p.post(t, fmt.Sprintf("n%02d", i), delay)
		if code != http.StatusCreated {
			t.Fatalf("POST n%02d: status %d", i, code)
		}
		ids = append(ids, id)
	}
	p.waitState(t, ids[1], "running")
	req, _ := http.NewRequest(http.MethodDelete, p.url+"/work/"+ids[4], nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE job 5: %v %v", resp, err)
	}
	resp.Body.Close()
	p.kill9(t)
	if got := greetings(t, p.stdout); !slices.Equal(got, []string{"n01"}) {
		t.Fatalf("before the kill: greetings %q, want [n01]", got)
	}

	p = startBinary(t, "-journal", dir, "-n", "1")
	if !strings.Contains(p.stderr.String(), "replayed") {
		t.Errorf("no log line about the replay:\n%s", p.stderr)
	}
	if j, ok := p.getJob(t, ids[0]); !ok || j.State != "done" {
		t.Errorf("job 1 after restart: %+v (found %v), want done", j, ok)
	}
	if j, ok := p.getJob(t, ids[4]); !ok || j.State != "canceled" {
		t.Errorf("job 5 after restart: %+v (found %v), want canceled", j, ok)
	}
	code, id := p.post(t, "new", "0s")
	if n, _ := strconv.Atoi(id); code != http.StatusCreated || n <= 20 {
		t.Errorf("new job after restart: status %d id %q, want 201 and an id above 20", code, id)
	}
	j, _ := p.getJob(t, ids[1])
	if j.Attempts != 2 {
		t.Errorf("job 2 after restart: attempts %d, want 2 (it was running at the kill)", j.Attempts)
	}
	p.waitState(t, id, "done")
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("drain exited %d", code)
	}
	want := []string{"n02", "n03", "n04"}
	for i := 6; i <= 20; i++ {
		want = append(want, fmt.Sprintf("n%02d", i))
	}
	want = append(want, "new")
	if got := greetings(t, p.stdout); !slices.Equal(got, want) {
		t.Errorf("after restart: greetings %q,\nwant %q", got, want)
	}
}

// TestJournalDrainTimeoutLeavesJobs checks that a drain that gives up leaves
// its unfinished jobs in the journal, says how many, and that they run at the
// next start.
func TestJournalDrainTimeoutLeavesJobs(t *testing.T) {
	dir := t.TempDir()
	p := startBinary(t, "-journal", dir, "-n", "1", "-shutdown-timeout", "200ms")
	for i := 1; i <= 5; i++ {
		if code, _ := p.post(t, fmt.Sprintf("d%d", i), "1s"); code != http.StatusCreated {
			t.Fatalf("POST d%d: %d", i, code)
		}
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 1 {
		t.Fatalf("drain that gives up exited %d, want 1", code)
	}
	if !strings.Contains(p.stderr.String(), "journal") {
		t.Errorf("the give-up does not say the jobs stay in the journal:\n%s", p.stderr)
	}
	p = startBinary(t, "-journal", dir, "-n", "4")
	waitUnfinished(t, p, 0)
	p.signal(t, syscall.SIGTERM)
	p.wait(t, 10*time.Second)
	got := greetings(t, p.stdout)
	slices.Sort(got)
	if want := []string{"d1", "d2", "d3", "d4", "d5"}; !slices.Equal(got, want) {
		t.Errorf("after restart: greetings %q, want %q", got, want)
	}
}
