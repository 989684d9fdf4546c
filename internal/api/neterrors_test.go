package api

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestNetHTTPErrorsAreJSON sends requests net/http refuses before any
// handler runs, through a server on a JSONErrors listener, and checks each
// answer keeps net/http's status and is a JSON error saying what to do; an
// ordinary request is answered by the handler, unchanged.
func TestNetHTTPErrorsAreJSON(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{MaxHeaderBytes: 1 << 10, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "handled")
	})}
	go hs.Serve(JSONErrors(ln))
	defer hs.Close()
	for _, tt := range []struct {
		name, request string
		status        int
		want          string
	}{
		{"gzip, chunked", "POST /work HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "only transfer coding taken is chunked"},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", 431, "over 64 KiB"},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400, "missing required Host header"},
		{"garbage", "NOT HTTP\r\n\r\n", 400, "not well-formed HTTP/1.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, tt.request)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			var e struct{ Error string }
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/json" ||
				json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, tt.want) {
				t.Errorf("%d %s %s, want %d application/json with an error holding %q",
					resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.status, tt.want)
			}
		})
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "handled" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("ordinary request: %d %q %s, want 200 handled, text/plain", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
}
