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
	"workqueue/internal/journal"
	"workqueue/internal/testutil"
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
	if leaked := leakedGoroutines(); code == 0 && leaked != "" {
		fmt.Fprintf(os.Stderr, "FAIL: goroutines the tests started are still running:\n\n%s\n", leaked)
		code = 1
	}
	os.Exit(code)
}

// leakedGoroutines returns the stacks of goroutines still running code of
// this package or of net/http once every test has ended, after giving them
// a few seconds to finish (connections close asynchronously).
func leakedGoroutines() string {
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 8<<20)
		var left []string
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "leakedGoroutines") {
				continue // this one
			}
			if strings.Contains(g, "workqueue.") || strings.Contains(g, "net/http.") {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFlags checks the command line: defaults, good values, and bad values,
// each refused with a usage error that names the flag.
func TestFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    config // for good args
		wantErr string // part of the message, for bad args
	}{
		{args: nil, want: config{workers: 4, maxWorkers: 1024, addr: "127.0.0.1:8000", queue: 100, maxDelay: 10 * time.Second, shutdownTimeout: 30 * time.Second}},
		{args: []string{"-n", "8", "-http", ":9000", "-queue", "1", "-max-delay", "0s", "-shutdown-timeout", "1m", "-log-level", "debug"},
			want: config{workers: 8, maxWorkers: 1024, addr: ":9000", queue: 1, maxDelay: 0, shutdownTimeout: time.Minute, logLevel: -4}},
		{args: []string{"-n", "0"}, wantErr: `invalid value "0" for flag -n: must be at least 1`},
		{args: []string{"-n", "four"}, wantErr: `invalid value "four" for flag -n: not a whole number`},
		{args: []string{"-queue", "-1"}, wantErr: `invalid value "-1" for flag -queue: must be at least 1`},
		{args: []string{"-max-delay", "abc"}, wantErr: `invalid value "abc" for flag -max-delay: not a duration`},
		{args: []string{"-max-delay", "-1s"}, wantErr: `invalid value "-1s" for flag -max-delay: must not be negative`},
		{args: []string{"-shutdown-timeout", "0s"}, wantErr: `invalid value "0s" for flag -shutdown-timeout: must be more than 0s`},
		{args: []string{"-log-level", "loud"}, wantErr: `invalid value "loud" for flag -log-level: must be debug, info, warn or error`},
		{args: []string{"-n", "1024", "-queue", "1000000", "-max-delay", "24h", "-shutdown-timeout", "24h"},
			want: config{workers: 1024, maxWorkers: 1024, addr: "127.0.0.1:8000", queue: 1_000_000, maxDelay: 24 * time.Hour, shutdownTimeout: 24 * time.Hour}},
		{args: []string{"-n", "1025"}, wantErr: `invalid value "1025" for flag -n: must be at most 1024`},
		{args: []string{"-n", "100000000"}, wantErr: `invalid value "100000000" for flag -n: must be at most 1024`},
		{args: []string{"-n", "99999999999999999999"}, wantErr: `invalid value "99999999999999999999" for flag -n: must be at most 1024`},
		{args: []string{"-n", "-99999999999999999999"}, wantErr: `for flag -n: not a whole number`},
		{args: []string{"-queue", "1000001"}, wantErr: `invalid value "1000001" for flag -queue: must be at most 1000000`},
		{args: []string{"-max-delay", "24h0m1s"}, wantErr: `invalid value "24h0m1s" for flag -max-delay: must be at most 24h0m0s`},
		{args: []string{"-shutdown-timeout", "8760h"}, wantErr: `invalid value "8760h" for flag -shutdown-timeout: must be at most 24h0m0s`},
		{args: []string{"-shutdown-timeout", "9999999999h"}, wantErr: `for flag -shutdown-timeout: not a duration such as 500ms, 10s or 1m (at most 24h0m0s)`},
		{args: []string{"-http", "localhost"}, wantErr: `invalid value "localhost" for flag -http: want host:port, such as localhost:8000`},
		{args: []string{"-http", "8080"}, wantErr: `invalid value "8080" for flag -http: want host:port, such as localhost:8080`},
		{args: []string{"-http", "::1"}, wantErr: `invalid value "::1" for flag -http: want host:port, such as localhost:8000`},
		{args: []string{"-http", "127.0.0.1:65536"}, wantErr: `for flag -http: the port must be from 0 to 65535, such as 127.0.0.1:8000`},
		{args: []string{"-http", "[::1]:8080"}, want: config{workers: 4, maxWorkers: 1024, addr: "[::1]:8080", queue: 100, maxDelay: 10 * time.Second, shutdownTimeout: 30 * time.Second}},
		{args: []string{"-workers", "3"}, wantErr: "flag provided but not defined: -workers"},
		{args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
		{args: []string{"-n", "2", "-max-workers", "8", "-journal", "/tmp/j", "-fsync", "50ms"},
			want: config{workers: 2, maxWorkers: 8, addr: "127.0.0.1:8000", queue: 100, maxDelay: 10 * time.Second, shutdownTimeout: 30 * time.Second,
				journalDir: "/tmp/j", fsync: journal.SyncEvery(50 * time.Millisecond)}},
		{args: []string{"-n", "9", "-max-workers", "8"}, wantErr: "-n 9 is above -max-workers 8"},
		{args: []string{"-max-workers", "1025"}, wantErr: `invalid value "1025" for flag -max-workers: must be at most 1024`},
		{args: []string{"-fsync", "never"}, wantErr: "-fsync never needs -journal DIR"},
		{args: []string{"-journal", "/tmp/j", "-fsync", "sometimes"}, wantErr: `invalid value "sometimes" for flag -fsync`},
		{args: []string{"-journal", ""}, wantErr: `invalid value "" for flag -journal: want a directory`},
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
	for _, f := range []string{"-n N", "-http HOST:PORT", "-queue N", "-max-delay", "-shutdown-timeout", "-log-level", "Example"} {
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
	stdout, stderr := new(testutil.SyncBuffer), new(testutil.SyncBuffer)
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
func waitListening(t *testing.T, stderr *testutil.SyncBuffer, exited <-chan error) string {
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

// TestRunStopsDuringStartUp checks a signal or the end of run's context
// while start-up work is still going (however long it would take) stops run
// promptly with an error, before it listens.
func TestRunStopsDuringStartUp(t *testing.T) {
	tests := []struct {
		name string
		stop func(cancel context.CancelFunc) error
		want string
	}{
		{"SIGTERM", func(context.CancelFunc) error { return syscall.Kill(os.Getpid(), syscall.SIGTERM) }, "stopped while starting: signal terminated"},
		{"SIGINT", func(context.CancelFunc) error { return syscall.Kill(os.Getpid(), syscall.SIGINT) }, "stopped while starting: signal interrupt"},
		{"SIGHUP", func(context.CancelFunc) error { return syscall.Kill(os.Getpid(), syscall.SIGHUP) }, "stopped while starting: signal hangup"},
		{"context", func(cancel context.CancelFunc) error { cancel(); return nil }, "stopped while starting: context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			starting := make(chan struct{})
			slowStart := func(ctx context.Context) error {
				close(starting)
				<-ctx.Done() // a start that would never end by itself
				return ctx.Err()
			}
			stderr := new(testutil.SyncBuffer)
			done := make(chan error, 1)
			go func() {
				done <- runWith(ctx, []string{"-http", "127.0.0.1:0"}, io.Discard, stderr, slowStart)
			}()
			<-starting // run has caught signals: they were caught before start-up began
			if err := tt.stop(cancel); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err == nil || err.Error() != tt.want {
					t.Errorf("run = %v, want %q", err, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("run still starting 10s after being stopped")
			}
			if strings.Contains(stderr.String(), "listening") {
				t.Errorf("run listened after being stopped while starting:\n%s", stderr)
			}
		})
	}
}
