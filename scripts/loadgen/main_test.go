package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// line runs loadgen with args and returns its output line's fields.
func line(t *testing.T, args ...string) map[string]string {
	t.Helper()
	var out, errs bytes.Buffer
	if err := run(args, &out, &errs); err != nil {
		t.Fatalf("run(%q) = %v; stderr: %s", args, err, errs.String())
	}
	got := map[string]string{}
	for _, f := range strings.Fields(out.String()) {
		k, v, _ := strings.Cut(f, "=")
		got[k] = v
	}
	return got
}

// wantCounts checks the ok and other fields of a loadgen line.
func wantCounts(t *testing.T, got map[string]string, ok, other int) {
	t.Helper()
	if got["ok"] != strconv.Itoa(ok) || got["other"] != strconv.Itoa(other) {
		t.Errorf("ok=%s other=%s, want ok=%d other=%d", got["ok"], got["other"], ok, other)
	}
}

func TestHTTP(t *testing.T) {
	var mu sync.Mutex // guards names
	names := map[string]int{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		names[r.FormValue("name")]++
		n := len(names)
		mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/work" || r.FormValue("delay") != "1h" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if n%5 == 0 { // the client must dial again
			w.Header().Set("Connection", "close")
		}
		if n%3 == 0 {
			http.Error(w, "full", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"1"}`)
	}))
	defer hs.Close()
	got := line(t, "-proto", "http", "-url", hs.URL+"/work", "-c", "4", "-n", "30", "-d", "1m", "-delay", "1h")
	wantCounts(t, got, 20, 10)
	if got["proto"] != "http" {
		t.Errorf("proto=%s, want http", got["proto"])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(names) != 30 {
		t.Errorf("the server saw %d distinct names, want 30: %v", len(names), names)
	}
}

// fakeBeanstalkd answers each put on ln "INSERTED <n>", or "JOB_TOO_BIG"
// for every fourth, until ln is closed. It returns how many puts it read.
func fakeBeanstalkd(ln net.Listener) (puts func() int) {
	var mu sync.Mutex // guards n
	n := 0
	serve := func(c net.Conn) {
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			var pri, delay, ttr, size int
			head, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := fmt.Sscanf(head, "put %d %d %d %d\r\n", &pri, &delay, &ttr, &size); err != nil {
				fmt.Fprintf(c, "BAD_FORMAT\r\n")
				return
			}
			if _, err := io.ReadFull(r, make([]byte, size+2)); err != nil {
				return
			}
			mu.Lock()
			n++
			id := n
			mu.Unlock()
			if id%4 == 0 {
				fmt.Fprintf(c, "JOB_TOO_BIG\r\n")
			} else {
				fmt.Fprintf(c, "INSERTED %d\r\n", id)
			}
		}
	}
	go acceptLoop(ln, serve)
	return func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestBeanstalk(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	puts := fakeBeanstalkd(ln)
	got := line(t, "-proto", "beanstalk", "-addr", ln.Addr().String(), "-c", "3", "-n", "40", "-d", "1m")
	wantCounts(t, got, 30, 10)
	if n := puts(); n != 40 {
		t.Errorf("the server read %d puts, want 40", n)
	}
}

func TestExec(t *testing.T) {
	for _, tc := range []struct {
		name      string
		command   string
		ok, other int
	}{
		{"true succeeds", "true", 6, 0},
		{"false fails", "false", 0, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			err := run([]string{"-proto", "exec", "-c", "2", "-n", "6", "--", tc.command}, &out, &errs)
			if (err == nil) != (tc.ok > 0) {
				t.Errorf("run: %v, want an error only when nothing succeeds", err)
			}
			if want := fmt.Sprintf("proto=exec ok=%d other=%d ", tc.ok, tc.other); !strings.HasPrefix(out.String(), want) {
				t.Errorf("output %q, want it to start %q", out.String(), want)
			}
		})
	}
}

func TestWaitDone(t *testing.T) {
	var mu sync.Mutex // guards accepted and polls
	accepted, polls := 0, 0
	mux := http.NewServeMux()
	mux.HandleFunc("POST /work", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		accepted++
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	})
	// The jobs are done only from the third poll after the submissions on.
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		done := 0
		if accepted > 0 {
			if polls++; polls >= 3 {
				done = accepted
			}
		}
		fmt.Fprintf(w, "workqueue_jobs_finished_total{state=\"failed\"} 7\n%s %d\n", doneMetric, done)
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()
	got := line(t, "-url", hs.URL+"/work", "-c", "2", "-n", "10", "-d", "1m", "-wait-done")
	wantCounts(t, got, 10, 0)
	mu.Lock()
	defer mu.Unlock()
	if polls < 3 {
		t.Errorf("polled /metrics %d times after submitting, want at least 3", polls)
	}
}

func TestBadCommandLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"unknown protocol", []string{"-proto", "smtp"}},
		{"no clients", []string{"-c", "0"}},
		{"no time", []string{"-d", "0s"}},
		{"negative count", []string{"-n", "-1"}},
		{"negative size", []string{"-proto", "redis", "-size", "-1"}},
		{"wait-done without http", []string{"-proto", "beanstalk", "-wait-done"}},
		{"command without exec", []string{"--", "true"}},
		{"url not http", []string{"-url", "https://127.0.0.1/work"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			err := run(tc.args, &out, &errs)
			var usage *usageError
			if !errors.As(err, &usage) {
				t.Errorf("run(%q) = %v, want a usage error", tc.args, err)
			}
			if out.Len() != 0 {
				t.Errorf("output %q, want none", out.String())
			}
		})
	}
}

// fakeRedis answers each RESP command on ln with ":<n>\r\n", or an error
// for every fifth, until ln is closed. It returns the commands it read.
func fakeRedis(t *testing.T, ln net.Listener) (commands func() [][]string) {
	var mu sync.Mutex // guards got
	var got [][]string
	serve := func(c net.Conn) {
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			var n int
			head, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := fmt.Sscanf(head, "*%d\r\n", &n); err != nil {
				t.Errorf("command header %q", head)
				return
			}
			args := make([]string, n)
			for i := range args {
				var size int
				head, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if _, err := fmt.Sscanf(head, "$%d\r\n", &size); err != nil {
					t.Errorf("bulk string header %q", head)
					return
				}
				b := make([]byte, size+2)
				if _, err := io.ReadFull(r, b); err != nil {
					return
				}
				args[i] = string(b[:size])
			}
			mu.Lock()
			got = append(got, args)
			k := len(got)
			mu.Unlock()
			if k%5 == 0 {
				io.WriteString(c, "-OOM command not allowed\r\n")
			} else {
				fmt.Fprintf(c, ":%d\r\n", k)
			}
		}
	}
	go acceptLoop(ln, serve)
	return func() [][]string { mu.Lock(); defer mu.Unlock(); return got }
}

func TestRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	commands := fakeRedis(t, ln)
	got := line(t, "-proto", "redis", "-addr", ln.Addr().String(), "-c", "3", "-n", "40", "-d", "1m", "-size", "40")
	wantCounts(t, got, 32, 8)
	cmds := commands()
	if len(cmds) != 40 {
		t.Fatalf("the server read %d commands, want 40", len(cmds))
	}
	seen := map[string]bool{}
	for _, c := range cmds {
		if len(c) != 3 || c[0] != "LPUSH" || c[1] != redisKey || len(c[2]) != 40 || !strings.HasPrefix(c[2], "lg-") {
			t.Errorf("command %q, want LPUSH %s and a 40-byte lg- body", c, redisKey)
		}
		seen[c[2]] = true
	}
	if len(seen) != 40 {
		t.Errorf("%d distinct bodies, want 40", len(seen))
	}
}

func TestJobBody(t *testing.T) {
	if b := jobBody(7, 12, 40); len(b) != 40 || !strings.HasPrefix(b, "lg-7-12.") {
		t.Errorf("jobBody(7, 12, 40) = %q", b)
	}
	if b := jobBody(7, 12, 0); b != "lg-7-12" {
		t.Errorf("jobBody(7, 12, 0) = %q, want it unpadded", b)
	}
}

// acceptLoop serves each connection ln accepts with serve, in a goroutine of
// its own, until ln is closed: the fake servers' accept loop.
func acceptLoop(ln net.Listener, serve func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go serve(c)
	}
}
