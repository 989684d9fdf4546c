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
