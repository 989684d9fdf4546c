package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitLog polls the process's log until it contains want.
func (p *proc) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q 10s on:\n%s", want, p.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dialHalfRequest opens a connection to the process and sends the start of
// a request, never its end, as a stalled client does. With half set false it
// sends nothing at all.
func dialHalfRequest(t *testing.T, p *proc, half bool) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if half {
		if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	waitAccepted(t, p)
	return conn
}

// waitAccepted waits until the process's listening socket has no
// connection waiting to be accepted: the kernel's accept queue, which
// /proc/net/tcp shows as the rx_queue of a socket in state LISTEN (0A). A
// connection still in it when a drain closes the listener would be reset,
// not waited for.
func waitAccepted(t *testing.T, p *proc) {
	t.Helper()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(p.url, "http://"))
	n, _ := strconv.Atoi(port)
	local := fmt.Sprintf(":%04X", n)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			t.Skipf("cannot read the accept queue: %v", err)
		}
		queued := -1
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 4 && strings.HasSuffix(f[1], local) && f[3] == "0A" {
				_, rx, _ := strings.Cut(f[4], ":")
				v, _ := strconv.ParseInt(rx, 16, 64)
				queued = int(v)
			}
		}
		if queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the listener's accept queue still holds %d connections 10s on", queued)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBinarySecondSignalWhileClosingConnections checks a second signal cuts
// short the last phase too: with every job drained and the server waiting on
// a half-sent request to close its connections, the second SIGTERM exits 1
// at once rather than 0 when the request times out.
func TestBinarySecondSignalWhileClosingConnections(t *testing.T) {
	t.Parallel()
	p := startBinary(t, "-n", "1")
	if code := p.submit(t, "quick", "0s"); code != http.StatusCreated {
		t.Fatalf("POST: status %d, want 201", code)
	}
	dialHalfRequest(t, p, true)
	p.signal(t, syscall.SIGTERM)
	p.waitLog(t, "msg=drained")
	start := time.Now()
	p.signal(t, syscall.SIGTERM)
	code := p.wait(t, 8*time.Second)
	if code != 1 {
		t.Errorf("exit status %d, want 1: a second signal cut the shutdown short\nstderr:\n%s", code, p.stderr)
	}
	// The half-sent request would hold the server until its 5 s header timeout.
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("exited %v after the second signal, want at once", took)
	}
	if want := "second signal terminated"; !strings.Contains(p.stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, p.stderr)
	}
}

// TestBinaryLingeringConnections checks a drain that ran every job exits 0
// even when connections outlive -shutdown-timeout (one that never sent a
// byte, one that sent half a request, one idle keep-alive): they are closed,
// and only an incomplete drain exits 1.
func TestBinaryLingeringConnections(t *testing.T) {
	t.Parallel()
	p := startBinary(t, "-n", "2", "-shutdown-timeout", "1s")
	client := &http.Client{Transport: &http.Transport{}} // keeps its connection idle
	for i := range 4 {
		if code, _ := post(t, client, p.url, fmt.Sprintf("job%d", i), "50ms"); code != http.StatusCreated {
			t.Fatalf("POST job%d: status %d, want 201", i, code)
		}
	}
	dialHalfRequest(t, p, false)
	dialHalfRequest(t, p, true)
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 8*time.Second); code != 0 {
		t.Errorf("exit status %d, want 0: every job ran\nstderr:\n%s", code, p.stderr)
	}
	client.CloseIdleConnections()
	if got := len(greetings(t, p.stdout)); got != 4 {
		t.Errorf("%d greetings, want 4", got)
	}
	if bad := "closing connections"; strings.Contains(p.stderr.String(), bad) {
		t.Errorf("stderr has %q:\n%s", bad, p.stderr)
	}
}

// TestBinaryDrainsOnSIGHUP checks SIGHUP (a closed terminal or ssh session)
// drains like SIGTERM, runs every accepted job, says so in the log, and exits 0.
func TestBinaryDrainsOnSIGHUP(t *testing.T) {
	t.Parallel()
	p := startBinary(t, "-n", "1")
	for i := range 5 {
		if code := p.submit(t, fmt.Sprintf("hup%d", i), "100ms"); code != http.StatusCreated {
			t.Fatalf("POST hup%d: status %d, want 201", i, code)
		}
	}
	p.signal(t, syscall.SIGHUP)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d, want 0\nstderr:\n%s", code, p.stderr)
	}
	if got := greetings(t, p.stdout); strings.Join(got, " ") != "hup0 hup1 hup2 hup3 hup4" {
		t.Errorf("greeted %q, want every accepted job in order", got)
	}
	for _, want := range []string{"msg=draining signal=hangup", "msg=drained done=5"} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, p.stderr)
		}
	}
}

// TestBinaryGiveUpNamesJobs checks a drain that gives up logs the ids of the
// jobs it abandoned, the first 20 in order, and how many more.
func TestBinaryGiveUpNamesJobs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		jobs      int
		ids       string
		more      int
		abandoned int
	}{
		{"few", 3, "1,2,3", 0, 3},
		{"many", 25, "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20", 5, 25},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startBinary(t, "-n", "1", "-shutdown-timeout", "300ms")
			for i := range tt.jobs {
				if code := p.submit(t, "long"+strconv.Itoa(i), "10s"); code != http.StatusCreated {
					t.Fatalf("POST long%d: status %d, want 201", i, code)
				}
			}
			p.signal(t, syscall.SIGTERM)
			if code := p.wait(t, 8*time.Second); code != 1 {
				t.Fatalf("exit status %d, want 1\nstderr:\n%s", code, p.stderr)
			}
			want := fmt.Sprintf(`msg="drain abandoned" abandoned=%d ids=%s more=%d`, tt.abandoned, tt.ids, tt.more)
			if !strings.Contains(p.stderr.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, p.stderr)
			}
		})
	}
}
