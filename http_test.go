package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"workqueue/internal/api"
	"workqueue/internal/submit"
)

// startHTTP serves ts's handler over a real loopback listener with the
// given limits, as run does, and returns its address. The server is closed
// when the test ends.
func startHTTP(t *testing.T, ts *testServer, limits api.Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := api.NewHTTPServer(ts.handler, limits, ts.log)
	served := make(chan struct{})
	go func() {
		defer close(served)
		hs.Serve(ln)
	}()
	t.Cleanup(func() {
		hs.Close()
		<-served
	})
	return ln.Addr().String()
}

// shortLimits are the server's limits with timeouts short enough for tests.
func shortLimits() api.Limits {
	l := api.DefaultLimits()
	l.ReadHeader, l.Read, l.Write, l.Idle = 300*time.Millisecond, 600*time.Millisecond, time.Second, time.Second
	return l
}

// exchange sends raw bytes on a new connection, half-closes it if
// closeWrite is set, and reads whatever comes back until the server closes
// the connection. It fails the test if the server has not closed it within
// 10 s: no limit of the server's is that long.
func exchange(t *testing.T, addr, raw string, closeWrite bool) string {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Errorf("dial: %v", err)
		return ""
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		return "" // the server may refuse before reading it all
	}
	if closeWrite {
		conn.(*net.TCPConn).CloseWrite()
	}
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("server kept the connection open for 10s after %.40q", raw)
	}
	return string(got)
}

// submitMany posts n jobs over HTTP to addr and returns how many answered
// 201; it reports other outcomes as errors.
func submitMany(t *testing.T, addr string, n int) int {
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	created := 0
	for i := range n {
		resp, err := client.PostForm("http://"+addr+"/work", url.Values{"name": {fmt.Sprintf("ok%d", i)}})
		if err != nil {
			t.Errorf("ordinary submission %d: %v", i, err)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			created++
		}
	}
	return created
}

// TestSlowClientsAreCutOff opens connections that send part of a request
// and stop: half a request line, half the headers, half a body. The server
// disconnects each within its timeouts, and 100 ordinary submissions made
// meanwhile all succeed.
func TestSlowClientsAreCutOff(t *testing.T) {
	ts := newTestServer(t, testConfig(), Sleep)
	limits := shortLimits()
	addr := startHTTP(t, ts, limits)
	partial := []string{
		"POST /wo",
		"POST /work HTTP/1.1\r\nHost: x\r\nContent-Ty",
		"POST /work HTTP/1.1\r\nHost: x\r\nContent-Type: " + submit.FormType + "\r\nContent-Length: 100\r\n\r\nname=sl",
	}
	var wg sync.WaitGroup
	took := make([]time.Duration, len(partial))
	for i, raw := range partial {
		wg.Go(func() {
			start := time.Now()
			exchange(t, addr, raw, false) // the client never finishes
			took[i] = time.Since(start)
		})
	}
	if got := submitMany(t, addr, 100); got != 100 {
		t.Errorf("%d of 100 ordinary submissions were accepted while slow clients hung on, want 100", got)
	}
	wg.Wait()
	for i, d := range took {
		if d < limits.ReadHeader {
			t.Errorf("slow client %d was cut off after %v, before the header timeout %v", i, d, limits.ReadHeader)
		}
	}
}

// garbage returns a few hundred malformed requests: bad request lines, huge
// headers, wrong framing, bodies shorter than their Content-Length, random
// bytes, and valid requests with bytes flipped.
func garbage() []string {
	const h = "Host: x\r\n"
	valid := "POST /work HTTP/1.1\r\n" + h + "Content-Type: " + submit.FormType + "\r\nContent-Length: 10\r\n\r\nname=Alice"
	g := []string{
		"\r\n\r\n",
		"GET\r\n\r\n",
		"POST /work\r\n\r\n",
		"POST /work HTTP/9.9\r\n" + h + "\r\n",
		"POST  HTTP/1.1\r\n" + h + "\r\n",
		"P\x00ST /work HTTP/1.1\r\n" + h + "\r\n",
		"POST /work?name=%ff%fe HTTP/1.1\r\n" + h + "\r\n",
		"POST /work?name=a%0Ab HTTP/1.1\r\n" + h + "\r\n",
		"GET /work/%zz HTTP/1.1\r\n" + h + "\r\n",
		"GET /work/" + strings.Repeat("9", 5000) + " HTTP/1.1\r\n" + h + "\r\n",
		"POST /work HTTP/1.1\r\n" + h + "X-Big: " + strings.Repeat("x", 100<<10) + "\r\n\r\n",
		"POST /work HTTP/1.1\r\n" + h + strings.Repeat("X-Many: y\r\n", 10000) + "\r\n",
		"POST /work HTTP/1.1\r\n" + h + "Content-Length: -5\r\n\r\n",
		"POST /work HTTP/1.1\r\n" + h + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		"POST /work HTTP/1.1\r\n" + h + "Content-Length: 99999999999999999999\r\n\r\n",
		"POST /work HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"POST /work HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Type: " + submit.FormType + "\r\n\r\nzz\r\nname=a\r\n0\r\n\r\n",
		"POST /work HTTP/1.1\r\n" + h + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"POST /work HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Type: " + submit.FormType + "\r\n\r\n" +
			strings.Repeat("1000\r\n"+strings.Repeat("a", 4096)+"\r\n", 20) + "0\r\n\r\n",
		"POST /work HTTP/1.1\r\n" + h + "Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"name\":",
		"POST /work HTTP/1.1\r\n" + h + "Content-Type: " + submit.FormType + "\r\nContent-Length: 30\r\n\r\nname=short",
		"POST /work HTTP/1.1\r\n" + h + "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 20\r\n\r\n--x\r\nbroken",
		"POST /work HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
		"POST /work HTTP/1.1\r\n" + h + "Bad Header\r\n\r\n",
		"POST /work HTTP/1.1\r\n" + h + " folded: header\r\n\r\n",
		"POST /work HTTP/1.0\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"DELETE /work/1 HTTP/1.1\r\n" + h + "Content-Length: 3\r\n\r\nabc",
		"BREW /work HTTP/1.1\r\n" + h + "\r\n",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 150 {
		b := make([]byte, 1+rng.IntN(300))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		g = append(g, string(b))
	}
	for range 150 {
		b := []byte(valid)
		for range 1 + rng.IntN(4) {
			b[rng.IntN(len(b))] = byte(rng.UintN(256))
		}
		g = append(g, string(b))
	}
	return g
}

// TestGarbage sends a few hundred malformed requests over raw TCP. The
// server answers or closes each, never panics, never answers 500, accepts
// exactly as many jobs as it answered 201, and is healthy afterwards.
func TestGarbage(t *testing.T) {
	ts := newTestServer(t, testConfig(), Sleep)
	addr := startHTTP(t, ts, shortLimits())
	requests := garbage()
	statusRE := regexp.MustCompile(`(?m)^HTTP/1\.[01] (\d{3}) `)
	var (
		mu       sync.Mutex
		statuses = map[string]int{}
	)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, raw := range requests {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			answer := exchange(t, addr, raw, true)
			mu.Lock()
			defer mu.Unlock()
			for _, m := range statusRE.FindAllStringSubmatch(answer, -1) {
				statuses[m[1]]++
			}
		})
	}
	wg.Wait()
	t.Logf("%d malformed requests; answers by status: %v", len(requests), statuses)
	if statuses["500"] > 0 {
		t.Errorf("%d answers were 500", statuses["500"])
	}
	if got, want := ts.stats.Accepted.Load(), int64(statuses["201"]); got != want {
		t.Errorf("accepted counter = %d, but %d answers were 201", got, want)
	}
	if logs := ts.logs.String(); strings.Contains(logs, "panic") {
		t.Errorf("the server logged a panic:\n%s", logs)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz after the garbage: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz after the garbage: status %d, want 200", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
}

// TestRefusalClosesConnection sends requests that are refused before their
// body is read, over real TCP with the server's real limits, and checks the
// server answers, says Connection: close, and closes the connection at once
// rather than holding it until its 10 s read timeout. With
// Expect: 100-continue the client sends only the headers and waits, as curl
// does; without it, the body follows the headers at once.
func TestRefusalClosesConnection(t *testing.T) {
	ts := newTestServer(t, testConfig(), Sleep)
	addr := startHTTP(t, ts, api.DefaultLimits())
	const h = "Host: x\r\nContent-Type: " + submit.FormType + "\r\n"
	tests := []struct {
		name, head string
		length     int
		wantStatus string
	}{
		{"declared too large", "POST /work HTTP/1.1\r\n" + h, 200 << 10, "413"},
		{"unsupported type", "POST /work HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n", 1000, "415"},
		{"no type", "POST /work HTTP/1.1\r\nHost: x\r\n", 1000, "415"},
		{"encoded", "POST /work?name=A HTTP/1.1\r\n" + h + "Content-Encoding: gzip\r\n", 1000, "415"},
		{"malformed query", "POST /work?name=%zz HTTP/1.1\r\n" + h, 1000, "400"},
		{"name twice in query", "POST /work?name=a&name=b HTTP/1.1\r\n" + h, 1000, "400"},
		{"wrong method", "PUT /work HTTP/1.1\r\n" + h, 1000, "405"},
		{"unknown path", "POST /nowhere HTTP/1.1\r\n" + h, 1000, "404"},
		{"non-canonical path", "POST //work HTTP/1.1\r\n" + h, 1000, "307"},
		{"unknown job", "GET /work/999 HTTP/1.1\r\n" + h, 1000, "404"},
	}
	for _, tt := range tests {
		for _, expect := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/expect=%v", tt.name, expect), func(t *testing.T) {
				t.Parallel()
				head := tt.head + fmt.Sprintf("Content-Length: %d\r\n", tt.length)
				if expect {
					head += "Expect: 100-continue\r\n"
				}
				raw := head + "\r\n"
				if !expect {
					raw += strings.Repeat("a", tt.length)
				}
				answer, closed := exchangeWithin(t, addr, raw, 3*time.Second)
				if !strings.HasPrefix(answer, "HTTP/1.1 "+tt.wantStatus+" ") {
					t.Fatalf("answer %.60q, want status %s", answer, tt.wantStatus)
				}
				if !strings.Contains(answer, "\r\nConnection: close\r\n") {
					t.Errorf("answer without Connection: close:\n%s", answer)
				}
				if !closed {
					t.Errorf("the connection was still open 3 s after the %s answer; want it closed at once", tt.wantStatus)
				}
			})
		}
	}
}

// exchangeWithin sends raw on a new connection and reads until the server
// closes it or d passes; it returns what it read and whether the server
// closed the connection in time.
func exchangeWithin(t *testing.T, addr, raw string, d time.Duration) (string, bool) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Errorf("dial: %v", err)
		return "", false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(d))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Errorf("write: %v", err)
		return "", false
	}
	got, err := io.ReadAll(conn)
	var ne net.Error
	return string(got), !(errors.As(err, &ne) && ne.Timeout())
}

// TestHeaderLimit checks the server takes 64 KiB of request line and
// headers, as the README says, and no more: net/http allows 4 KiB beyond
// MaxHeaderBytes, which defaultLimits takes into account.
func TestHeaderLimit(t *testing.T) {
	ts := newTestServer(t, testConfig(), Sleep)
	addr := startHTTP(t, ts, api.DefaultLimits())
	tests := []struct {
		name       string
		size       int // of the whole head: request line and headers
		wantStatus string
	}{
		{"60 KiB", 60 << 10, "200"},
		{"63 KiB", 63 << 10, "200"},
		{"65 KiB", 65 << 10, "431"},
		{"69 KiB", 69 << 10, "431"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head := "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "
			raw := head + strings.Repeat("x", tt.size-len(head)-4) + "\r\n\r\n"
			answer, _ := exchangeWithin(t, addr, raw, 3*time.Second)
			if !strings.HasPrefix(answer, "HTTP/1.1 "+tt.wantStatus+" ") {
				t.Errorf("head of %d bytes: answer %.60q, want status %s", len(raw), answer, tt.wantStatus)
			}
		})
	}
}

// TestBinaryTransferEncodingGzipIsJSON sends the real binary a POST /work
// with Transfer-Encoding: gzip, chunked, which net/http refuses itself
// before any handler runs: the answer is still 501 and JSON, saying what to
// send instead (it was net/http's text/plain "Unsupported transfer
// encoding").
func TestBinaryTransferEncodingGzipIsJSON(t *testing.T) {
	t.Parallel()
	p := startBinary(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /work HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotImplemented || resp.Header.Get("Content-Type") != "application/json" ||
		!strings.Contains(string(body), `"error":"unsupported Transfer-Encoding`) {
		t.Errorf("POST with Transfer-Encoding: gzip, chunked = %d %s %s, want 501 and a JSON error", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
