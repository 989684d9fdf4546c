package testutil

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SSEEvent is one block of an event stream, as a client parses it.
type SSEEvent struct {
	ID, Event, Data string
	Comments        []string
}

// ReadEvent reads the next block of the stream (up to a blank line),
// following the WHATWG parsing rules this server's streams need.
func ReadEvent(r *bufio.Reader) (SSEEvent, error) {
	var ev SSEEvent
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			ev.Data = strings.Join(data, "\n")
			return ev, nil
		}
		if c, ok := strings.CutPrefix(line, ":"); ok {
			ev.Comments = append(ev.Comments, strings.TrimSpace(c))
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID = value
		case "event":
			ev.Event = value
		case "data":
			data = append(data, value)
		}
	}
}

// NextOf reads blocks until one of event type kind and returns it.
func NextOf(t *testing.T, r *bufio.Reader, kind string) SSEEvent {
	t.Helper()
	for {
		ev, err := ReadEvent(r)
		if err != nil {
			t.Fatalf("reading the stream for a %q event: %v", kind, err)
		}
		if ev.Event == kind {
			return ev
		}
	}
}

// OpenStream opens GET /events on url with the given Last-Event-ID (none if
// empty) and returns a reader of its body; the test closes it.
func OpenStream(t *testing.T, url, lastID string) *bufio.Reader {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", url+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /events: status = %d, want 200", resp.StatusCode)
	}
	for name, want := range map[string]string{
		"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("GET /events: %s = %q, want %q", name, got, want)
		}
	}
	return bufio.NewReader(resp.Body)
}

// DialStuck opens a connection to addr with a tiny receive buffer, asks for
// GET /events, and never reads.
func DialStuck(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "GET /events HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return conn
}

// StuckServer starts a test server for h that tells, by closing the
// returned channel, when the server has closed a connection: the tests
// below open only the stuck one.
func StuckServer(t *testing.T, h http.Handler) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	closed := make(chan struct{})
	var once sync.Once
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		// A dropped subscriber's handler takes its connection over to
		// close it, and the server never sees that close.
		if state == http.StateClosed || state == http.StateHijacked {
			once.Do(func() { close(closed) })
		}
	}
	srv.Start()
	return srv, closed
}

// WaitClosed waits until the server has closed the stuck connection: its
// handler has returned. A client that never reads leaves the server's write
// blocked until the hub's kick cuts it off, and then the server closes it.
func WaitClosed(t *testing.T, closed <-chan struct{}) {
	t.Helper()
	select {
	case <-closed:
	case <-time.After(10 * time.Second): // a bound on failure, not a wait for success
		t.Fatal("the dropped subscriber's connection is still open 10 s after the drop")
	}
}

// WaitFor polls cond until it holds, failing the test after 10 s. It is for
// what crosses the network stack, which no fake clock can step.
func WaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
