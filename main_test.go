package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binary is the path of the workqueue binary that TestMain builds for the
// end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "workqueue-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "workqueue")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building workqueue: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestFlags checks the command line: defaults, good values, and bad values,
// each refused with a usage error that names the flag.
func TestFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    config // for good args
		wantErr string // part of the message, for bad args
	}{
		{args: nil, want: config{workers: 4, addr: "127.0.0.1:8000", queue: 100, maxDelay: 10 * time.Second, shutdownTimeout: 30 * time.Second}},
		{args: []string{"-n", "8", "-http", ":9000", "-queue", "1", "-max-delay", "0s", "-shutdown-timeout", "1m", "-log-level", "debug"},
			want: config{workers: 8, addr: ":9000", queue: 1, maxDelay: 0, shutdownTimeout: time.Minute, logLevel: -4}},
		{args: []string{"-n", "0"}, wantErr: `invalid value "0" for flag -n: must be at least 1`},
		{args: []string{"-n", "four"}, wantErr: `invalid value "four" for flag -n: not a whole number`},
		{args: []string{"-queue", "-1"}, wantErr: `invalid value "-1" for flag -queue: must be at least 1`},
		{args: []string{"-max-delay", "abc"}, wantErr: `invalid value "abc" for flag -max-delay: not a duration`},
		{args: []string{"-max-delay", "-1s"}, wantErr: `invalid value "-1s" for flag -max-delay: must not be negative`},
		{args: []string{"-shutdown-timeout", "0s"}, wantErr: `invalid value "0s" for flag -shutdown-timeout: must be more than 0s`},
		{args: []string{"-log-level", "loud"}, wantErr: `invalid value "loud" for flag -log-level: must be debug, info, warn or error`},
		{args: []string{"-workers", "3"}, wantErr: "flag provided but not defined: -workers"},
		{args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr strings.Builder
			cfg, err := parseFlags(tt.args, &stderr)
			if tt.wantErr == "" {
				if err != nil || cfg != tt.want {
					t.Fatalf("parseFlags(%q) = %+v, %v; want %+v", tt.args, cfg, err, tt.want)
				}
				return
			}
			var ue *usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parseFlags(%q) error = %v, want a usage error containing %q", tt.args, err, tt.wantErr)
			}
			if stderr.Len() != 0 {
				t.Errorf("parseFlags wrote %q; main writes the one-line message", stderr.String())
			}
		})
	}
}

// TestHelp checks -h prints a usage text naming every flag and is not an
// error exit.
func TestHelp(t *testing.T) {
	var stderr strings.Builder
	if err := run(t.Context(), []string{"-h"}, io.Discard, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run -h = %v, want flag.ErrHelp", err)
	}
	for _, f := range []string{"-n N", "-http ADDR", "-queue N", "-max-delay", "-shutdown-timeout", "-log-level", "Example"} {
		if !strings.Contains(stderr.String(), f) {
			t.Errorf("usage text lacks %q:\n%s", f, stderr.String())
		}
	}
}

// TestRun serves over real HTTP through run, drains when its context is
// canceled, and leaves no goroutine behind.
func TestRun(t *testing.T) {
	// os/signal starts a goroutine on first use that lives as long as the
	// process; start it now so it is not counted as the server's.
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR2)
	signal.Stop(c)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, stderr := new(syncBuffer), new(syncBuffer)
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-http", "127.0.0.1:0", "-n", "2"}, stdout, stderr) }()
	base := waitListening(t, stderr, done)

	client := &http.Client{}
	for i := range 10 {
		resp, err := client.PostForm(base+"/work", url.Values{"name": {fmt.Sprintf("run%d", i)}, "delay": {"20ms"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST run%d: status = %d, want 201", i, resp.StatusCode)
		}
	}
	client.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run = %v, want nil after a full drain", err)
	}
	if got := len(greetings(t, stdout)); got != 10 {
		t.Errorf("%d greetings, want 10", got)
	}
	waitGoroutines(t, before)
}

// TestRunListenError checks run fails at once with a clear message when its
// address is taken.
func TestRunListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = run(t.Context(), []string{"-http", ln.Addr().String()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "cannot listen on -http "+ln.Addr().String()) {
		t.Fatalf("run on a taken address = %v, want a listen error naming it", err)
	}
}

// waitListening waits for the server logging to stderr to say where it
// listens, and returns its base URL.
func waitListening(t *testing.T, stderr *syncBuffer, exited <-chan error) string {
	t.Helper()
	addrRE := regexp.MustCompile(`msg=listening addr=(\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			return "http://" + m[1]
		}
		select {
		case err := <-exited:
			t.Fatalf("server exited before listening: %v\n%s", err, stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("server did not say it was listening within 10s:\n%s", stderr)
	return ""
}

// waitGoroutines polls until the goroutine count is back to at most want,
// failing after a deadline. Connections close asynchronously, so a count
// taken at once could see their goroutines still on their way out.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// proc is the workqueue binary running as a child process.
type proc struct {
	cmd            *exec.Cmd
	url            string
	stdout, stderr *syncBuffer
	exited         chan error // receives cmd.Wait's result
}

// startBinary starts the workqueue binary on a free loopback port and waits
// until it listens. The process is killed when the test ends, if still alive.
func startBinary(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{stdout: new(syncBuffer), stderr: new(syncBuffer), exited: make(chan error, 1)}
	p.cmd = exec.Command(binary, append([]string{"-http", "127.0.0.1:0"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	p.url = waitListening(t, p.stderr, p.exited)
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
		{[]string{"-n", "0"}, "-n"},
		{[]string{"-queue", "-1"}, "-queue"},
		{[]string{"-max-delay", "abc"}, "-max-delay"},
		{[]string{"-shutdown-timeout", "x"}, "-shutdown-timeout"},
		{[]string{"-log-level", "loud"}, "-log-level"},
		{[]string{"-nope"}, "-nope"},
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
