package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"workqueue/internal/testutil"
)

// proc is the workqueue binary running as a child process.
type proc struct {
	cmd            *exec.Cmd
	url            string
	stdout, stderr *testutil.SyncBuffer
	exited         chan error // receives cmd.Wait's result
}

// startBinary starts the workqueue binary on a free loopback port and waits
// until it listens. The process is killed when the test ends, if still alive.
func startBinary(t *testing.T, args ...string) *proc {
	t.Helper()
	p := spawn(t, args...)
	p.url = waitListening(t, p.stderr, p.exited)
	return p
}

// spawn starts the workqueue binary with args on a free loopback port, its
// output captured, and kills it when the test ends if it is still alive.
func spawn(t *testing.T, args ...string) *proc {
	t.Helper()
	return spawnIn(t, "", args...)
}

// spawnIn is spawn with the binary's working directory dir ("" for the
// test's own).
func spawnIn(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"-http", "127.0.0.1:0"}, args...)...)
	cmd.Dir = dir
	return startCmd(t, cmd)
}

// startCmd starts cmd, its output captured, and kills it when the test
// ends if it is still alive.
func startCmd(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, stdout: new(testutil.SyncBuffer), stderr: new(testutil.SyncBuffer), exited: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// signal sends sig to the process.
func (p *proc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait waits up to timeout for the process to exit and returns its status.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(timeout):
		t.Fatalf("process still running %v after being told to stop\nstderr:\n%s", timeout, p.stderr)
		return -1
	}
}

// submit posts a job and returns the status code.
func (p *proc) submit(t *testing.T, name, delay string) int {
	t.Helper()
	resp, err := http.PostForm(p.url+"/work", url.Values{"name": {name}, "delay": {delay}})
	if err != nil {
		t.Fatalf("POST %s: %v", name, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitDraining polls /healthz until it answers 503.
func (p *proc) waitDraining(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.url + "/healthz")
		if err != nil {
			t.Fatalf("GET /healthz while draining: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("/healthz did not turn 503 within 10s of the signal")
}

// TestBinaryDrainsOnSIGTERM gives the real binary a backlog, sends SIGTERM,
// and checks: POST is refused while it drains, every accepted job still runs
// exactly once, and it exits 0.
func TestBinaryDrainsOnSIGTERM(t *testing.T) {
	t.Parallel()
	p := startBinary(t, "-n", "2")
	var accepted []string
	// 40 jobs of 150ms on 2 workers: a drain of 3s, ample time to see it.
	for i := range 40 {
		name := fmt.Sprintf("backlog%02d", i)
		if code := p.submit(t, name, "150ms"); code != http.StatusCreated {
			t.Fatalf("POST %s: status = %d, want 201", name, code)
		}
		accepted = append(accepted, name)
	}
	p.signal(t, syscall.SIGTERM)
	p.waitDraining(t)
	if code := p.submit(t, "late", "0s"); code != http.StatusServiceUnavailable {
		t.Errorf("POST while draining: status = %d, want 503", code)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit status = %d, want 0\nstderr:\n%s", code, p.stderr)
	}
	ran := map[string]int{}
	for _, name := range greetings(t, p.stdout) {
		ran[name]++
	}
	for _, name := range accepted {
		if ran[name] != 1 {
			t.Errorf("accepted job %s ran %d times, want 1", name, ran[name])
		}
	}
	if len(ran) != len(accepted) {
		t.Errorf("%d distinct jobs ran, want %d: %v", len(ran), len(accepted), ran)
	}
	for _, want := range []string{"msg=draining signal=terminated", "msg=drained done=40"} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, p.stderr)
		}
	}
}

// TestBinaryShutdownTimeout checks a drain that outlasts -shutdown-timeout
// exits 1 and logs how many accepted jobs it abandoned.
func TestBinaryShutdownTimeout(t *testing.T) {
	t.Parallel()
	p := startBinary(t, "-n", "1", "-shutdown-timeout", "300ms")
	for i := range 3 {
		if code := p.submit(t, fmt.Sprintf("long%d", i), "10s"); code != http.StatusCreated {
			t.Fatalf("POST long%d: status = %d, want 201", i, code)
		}
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 8*time.Second); code != 1 {
		t.Fatalf("exit status = %d, want 1\nstderr:\n%s", code, p.stderr)
	}
	if want := "msg=\"drain abandoned\" abandoned=3"; !strings.Contains(p.stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, p.stderr)
	}
	if out := p.stdout.String(); out != "" {
		t.Errorf("stdout = %q, want nothing: no job completed", out)
	}
}

// TestBinarySecondSignal checks a second signal during a drain makes the
// process exit 1 at once, logging the abandoned jobs.
func TestBinarySecondSignal(t *testing.T) {
	t.Parallel()
	p := startBinary(t, "-n", "1")
	for i := range 2 {
		if code := p.submit(t, fmt.Sprintf("long%d", i), "10s"); code != http.StatusCreated {
			t.Fatalf("POST long%d: status = %d, want 201", i, code)
		}
	}
	p.signal(t, syscall.SIGINT)
	p.waitDraining(t)
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 8*time.Second); code != 1 {
		t.Fatalf("exit status = %d, want 1\nstderr:\n%s", code, p.stderr)
	}
	for _, want := range []string{"msg=draining signal=interrupt", "msg=\"drain abandoned\" abandoned=2", "second signal terminated"} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, p.stderr)
		}
	}
}

// TestBinaryBadFlags checks the real binary exits 2 with one line naming the
// bad flag.
func TestBinaryBadFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		flag string
	}{
		{[]string{"-n", "-1"}, "-n"},
		{[]string{"-remote", "localhost:8000", "--", "true"}, "-remote"},
		{[]string{"-remote", "http://127.0.0.1:8000"}, "-remote"},
		{[]string{"-lease", "5s"}, "-lease"},
		{[]string{"-queue", "-1"}, "-queue"},
		{[]string{"-max-delay", "abc"}, "-max-delay"},
		{[]string{"-shutdown-timeout", "x"}, "-shutdown-timeout"},
		{[]string{"-log-level", "loud"}, "-log-level"},
		{[]string{"-nope"}, "-nope"},
		{[]string{"-n", "100000000"}, "-n"},
		{[]string{"-http", "localhost"}, "-http"},
		{[]string{"-http", "127.0.0.1:99999"}, "-http"},
		{[]string{"-retries", "101"}, "-retries"},
		{[]string{"-job-timeout", "25h", "--", "true"}, "-job-timeout"},
		{[]string{"-job-timeout", "1s"}, "-job-timeout"},
		{[]string{"-retries", "1"}, "-retries"},
		{[]string{"--"}, "--"},
		{[]string{"--", "no-such-command-for-workqueue"}, "no-such-command-for-workqueue"},
	} {
		cmd := exec.Command(binary, tt.args...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("workqueue %q: %v, want exit status 2", tt.args, err)
		}
		msg := stderr.String()
		if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "flag "+tt.flag) && !strings.Contains(msg, ": "+tt.flag) {
			t.Errorf("workqueue %q: stderr %q, want one line naming %s", tt.args, msg, tt.flag)
		}
		if stdout.Len() != 0 {
			t.Errorf("workqueue %q: stdout %q, want nothing", tt.args, stdout.String())
		}
	}
	cmd := exec.Command(binary, "-h")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Usage:") {
		t.Errorf("workqueue -h: %v, %q; want exit 0 and a usage text", err, out)
	}
}

// TestBinaryListenFailure checks a taken port or an address not on this
// machine makes the binary exit 1 at once with a message naming the address.
func TestBinaryListenFailure(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, addr := range []string{ln.Addr().String(), "192.0.2.1:0"} {
		cmd := exec.Command(binary, "-http", addr, "-insecure") // beyond loopback, 192.0.2.1 needs it
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("workqueue -http %s: %v, want exit status 1", addr, err)
		}
		if want := "workqueue: cannot listen on -http " + addr; !strings.HasPrefix(stderr.String(), want) {
			t.Errorf("workqueue -http %s: stderr %q, want it to start %q", addr, stderr.String(), want)
		}
	}
}

// rss returns the resident memory of process pid in bytes, from /proc.
func rss(t *testing.T, pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Errorf("reading memory: %v", err)
		return 0
	}
	var kb int64
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fmt.Sscan(rest, &kb)
		}
	}
	return kb << 10
}

// metric reads one unlabeled sample from the process's /metrics.
func (p *proc) metric(t *testing.T, name string) int64 {
	t.Helper()
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// outcomes records, for a load test, what each submission got.
type outcomes struct {
	mu       sync.Mutex
	accepted map[string]bool // name → answered 201
	refused  map[string]bool // name → answered 503
	failed   int             // no answer: connection refused or closed
	other    []string        // any other answer: a bug
	waits    []time.Duration // how long each 503 took
}

func newOutcomes() *outcomes {
	return &outcomes{accepted: map[string]bool{}, refused: map[string]bool{}}
}

// submit posts one job through client and records the outcome; it reports
// false if there was no answer at all.
func (o *outcomes) submit(client *http.Client, base, name, delay string) bool {
	start := time.Now()
	resp, err := client.PostForm(base+"/work", url.Values{"name": {name}, "delay": {delay}})
	took := time.Since(start)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.failed++
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		o.accepted[name] = true
	case http.StatusServiceUnavailable:
		o.refused[name] = true
		o.waits = append(o.waits, took)
	default:
		o.other = append(o.other, fmt.Sprintf("%s: %d", name, resp.StatusCode))
	}
	return true
}

// check compares what ran, by the greetings on stdout, with what was
// accepted: each accepted job exactly once, and nothing else.
func (o *outcomes) check(t *testing.T, stdout *testutil.SyncBuffer) {
	t.Helper()
	ran := map[string]int{}
	for _, name := range greetings(t, stdout) {
		ran[name]++
	}
	for name := range o.accepted {
		if ran[name] != 1 {
			t.Errorf("job %s answered 201 ran %d times, want 1", name, ran[name])
		}
	}
	for name := range ran {
		if !o.accepted[name] {
			t.Errorf("job %s ran but was never answered 201 (refused: %v)", name, o.refused[name])
		}
	}
	if len(o.other) > 0 {
		t.Errorf("%d submissions got neither 201 nor 503, first: %s", len(o.other), o.other[0])
	}
}

// TestBinaryFlood floods the real binary, one worker and a queue of 10,
// with 20,000 submissions of slow jobs from 50 clients. Its memory stays
// bounded, its goroutines return to where they were, the 503s come back
// fast, and every job it accepted runs exactly once.
func TestBinaryFlood(t *testing.T) {
	const clients, each = 50, 400
	p := startBinary(t, "-n", "1", "-queue", "10")
	pid := p.cmd.Process.Pid
	goroutines := p.metric(t, "workqueue_goroutines")

	o := newOutcomes()
	var peak atomic.Int64
	sampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak.Store(max(peak.Load(), rss(t, pid)))
			select {
			case <-sampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	transport := &http.Transport{MaxIdleConnsPerHost: clients}
	for c := range clients {
		wg.Go(func() {
			client := &http.Client{Transport: transport}
			for i := range each {
				o.submit(client, p.url, fmt.Sprintf("f%d-%d", c, i), "500ms")
			}
		})
	}
	wg.Wait()
	close(sampling)
	<-sampled
	transport.CloseIdleConnections()

	if o.failed > 0 {
		t.Errorf("%d submissions got no answer", o.failed)
	}
	if n := len(o.accepted) + len(o.refused); n != clients*each {
		t.Errorf("%d answers of 201 or 503, want %d", n, clients*each)
	}
	if mib := peak.Load() >> 20; mib > 64 {
		t.Errorf("resident memory peaked at %d MiB under the flood, want at most 64", mib)
	}
	slices.Sort(o.waits)
	// A handler that waited for room would wait for a 500ms job to end.
	if median := o.waits[len(o.waits)/2]; median > 250*time.Millisecond {
		t.Errorf("median 503 took %v, want far less than a job's 500ms", median)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.metric(t, "workqueue_goroutines") > goroutines && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := p.metric(t, "workqueue_goroutines"); got > goroutines {
		t.Errorf("goroutines after the flood = %d, want %d as before it", got, goroutines)
	}
	t.Logf("%d accepted, %d refused; peak RSS %d KiB; median 503 in %v",
		len(o.accepted), len(o.refused), peak.Load()>>10, o.waits[len(o.waits)/2])

	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("exit status after the flood = %d, want 0\nstderr:\n%s", code, p.stderr)
	}
	o.check(t, p.stdout)
}

// TestBinaryDrainUnderLoad sends SIGTERM while submissions are still
// arriving, 20 times over: every job answered 201, before or during the
// drain, runs exactly once; every other submission got 503 or no answer;
// the process exits 0.
func TestBinaryDrainUnderLoad(t *testing.T) {
	const reps, clients = 20, 16
	for rep := range reps {
		p := startBinary(t, "-n", "4", "-queue", "50")
		o := newOutcomes()
		var sent atomic.Int64
		var wg sync.WaitGroup
		transport := &http.Transport{MaxIdleConnsPerHost: clients}
		for c := range clients {
			wg.Go(func() {
				client := &http.Client{Transport: transport}
				for i := 0; i < 5000; i++ {
					sent.Add(1)
					if !o.submit(client, p.url, fmt.Sprintf("r%d-%d-%d", rep, c, i), fmt.Sprintf("%dms", i%3)) {
						return // the server has gone
					}
				}
			})
		}
		deadline := time.Now().Add(10 * time.Second)
		for sent.Load() < 200 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		p.signal(t, syscall.SIGTERM)
		code := p.wait(t, 60*time.Second)
		wg.Wait()
		transport.CloseIdleConnections()
		if code != 0 {
			t.Fatalf("rep %d: exit status %d, want 0\nstderr:\n%s", rep, code, p.stderr)
		}
		if len(o.accepted) == 0 {
			t.Errorf("rep %d: no submission was accepted", rep)
		}
		o.check(t, p.stdout)
		if t.Failed() {
			t.Fatalf("rep %d of %d failed", rep, reps)
		}
	}
}
