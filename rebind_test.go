package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/testutil"
)

// The tests of this file send what a page does after DNS rebinding: the
// attacker's name points at 127.0.0.1, so its requests reach the server with
// the attacker's Host, and, to the browser, from its own origin. They go
// through run (or the binary), so that they test the Host check as serve
// wires it.

// startRun runs the server in this process through run with args, on a
// free loopback port unless args say -http, and returns the address it
// listens on. When the test ends it stops the server
// and waits for run to return.
func startRun(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := new(testutil.SyncBuffer)
	done := make(chan error, 1)
	args = append([]string{"-http", "127.0.0.1:0"}, args...)
	go func() { done <- run(ctx, args, io.Discard, stderr) }()
	base := waitListening(t, stderr, done)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v, want nil after a full drain\n%s", err, stderr)
		}
	})
	return strings.TrimPrefix(base, "http://")
}

// rawRequest sends raw, a whole HTTP request, on a new connection to addr
// and returns the answer's status, headers and body.
func rawRequest(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	got := exchange(t, addr, raw, false)
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
	if err != nil {
		t.Fatalf("%.60q: cannot read the answer %q: %v", raw, got, err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// request returns a raw HTTP/1.1 request line, Host and headers, ending the
// connection after the answer, with body if not empty.
func request(method, target, host string, header map[string]string, contentType, body string) string {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n")
	for k, v := range header {
		b.WriteString(k + ": " + v + "\r\n")
	}
	if body != "" {
		b.WriteString("Content-Type: " + contentType + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	return b.String() + "\r\n" + body
}

// check421 checks a refusal of the Host check: 421 and a JSON error saying
// what to do, and nothing of the server's state in it.
func check421(t *testing.T, what string, resp *http.Response, body string) {
	t.Helper()
	var e map[string]string
	switch {
	case resp.StatusCode != http.StatusMisdirectedRequest:
		t.Errorf("%s: status %d, want 421; body %s", what, resp.StatusCode, body)
	case resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &e) != nil || len(e) != 1:
		t.Errorf("%s: %s %q, want a JSON {\"error\": ...}", what, resp.Header.Get("Content-Type"), body)
	case !strings.Contains(e["error"], "http://127.0.0.1:") || !strings.Contains(e["error"], "-allow-host"):
		t.Errorf("%s: error %q, want it to say to use 127.0.0.1 or -allow-host", what, e["error"])
	case strings.Contains(body, "secret"):
		t.Errorf("%s: the refusal %q shows a job", what, body)
	}
}

// getJSON gets target from addr with a loopback Host and decodes its JSON
// answer into v.
func getJSON(t *testing.T, addr, target string, v any) {
	t.Helper()
	resp, body := rawRequest(t, addr, request("GET", target, addr, nil, "", ""))
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), v) != nil {
		t.Fatalf("GET %s: %d %s", target, resp.StatusCode, body)
	}
}

// TestRebindingRefused sends every route, with every method that changes or
// reads something, with an attacker's Host and the headers a rebound page's
// browser sends (and others), to a server on 127.0.0.1: each is 421, and
// nothing is submitted, canceled, resized or shown.
func TestRebindingRefused(t *testing.T) {
	t.Parallel()
	addr := startRun(t, "-n", "1")
	_, port, _ := net.SplitHostPort(addr)
	// A job to cancel: it holds the one worker until the test cancels it.
	resp, body := rawRequest(t, addr, request("POST", "/work", addr, nil, "application/x-www-form-urlencoded", "name=secret&delay=10s"))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /work from 127.0.0.1: %d %s, want 201", resp.StatusCode, body)
	}

	attacker := "rebind.attacker.test:" + port
	browsers := []struct {
		name   string
		host   string
		header map[string]string
	}{
		{"rebound page", attacker, map[string]string{"Origin": "http://" + attacker, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}},
		{"rebound page, navigation", attacker, map[string]string{"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"}},
		{"no browser headers", attacker, nil},
		{"our own Origin", attacker, map[string]string{"Origin": "http://" + addr, "Sec-Fetch-Site": "same-origin"}},
		{"attacker name with a trailing dot", "rebind.attacker.test.:" + port, nil},
		{"attacker name without a port", "REBIND.attacker.test", nil},
		{"the unspecified address", "0.0.0.0:" + port, nil},
		{"a LAN address", "192.168.1.10:" + port, nil},
		{"localhost as a subdomain of the attacker", "localhost.attacker.test:" + port, nil},
	}
	routes := []struct{ method, target, contentType, body string }{
		{"POST", "/work", "application/x-www-form-urlencoded", "name=rebound&delay=0s"},
		{"POST", "/work", "application/json", `{"name": "rebound"}`},
		{"POST", "/work?name=rebound", "", ""},
		{"DELETE", "/work/1", "", ""},
		{"PUT", "/workers", "application/json", `{"workers": 8}`},
		{"PUT", "/workers?workers=8", "", ""},
		{"GET", "/work", "", ""},
		{"GET", "/work/1", "", ""},
		{"GET", "/work/1?wait=1s", "", ""},
		{"GET", "/workers", "", ""},
		{"GET", "/events", "", ""},
		{"GET", "/", "", ""},
		{"GET", "/static/app.js", "", ""},
		{"GET", "/metrics", "", ""},
		{"GET", "/healthz", "", ""},
		{"PATCH", "/work", "", ""}, // 421, not 405: no route is told
		{"GET", "//work", "", ""},  // nor 307
		{"GET", "/nowhere", "", ""},
	}
	for _, b := range browsers {
		for _, r := range routes {
			what := b.name + ": " + r.method + " " + r.target
			resp, body := rawRequest(t, addr, request(r.method, r.target, b.host, b.header, r.contentType, r.body))
			check421(t, what, resp, body)
		}
	}
	// The absolute form (RFC 9112 §3.2.2) names the host, whatever Host says.
	for _, raw := range []string{
		"POST http://evil.test/work HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 12\r\n\r\nname=rebound",
		"PUT http://evil.test:" + port + "/workers?workers=8 HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n\r\n",
		"GET http://evil.test/work HTTP/1.0\r\n\r\n",
	} {
		resp, body := rawRequest(t, addr, raw)
		check421(t, "absolute form "+raw[:strings.Index(raw, " HTTP")], resp, body)
	}

	// Nothing changed.
	var workers struct{ Workers, Target int }
	getJSON(t, addr, "/workers", &workers)
	if workers.Target != 1 {
		t.Errorf("GET /workers: %+v, want the target still 1", workers)
	}
	var list struct{ Jobs []job.View }
	getJSON(t, addr, "/work", &list)
	if len(list.Jobs) != 1 || list.Jobs[0].State == "canceled" {
		t.Errorf("GET /work: %+v, want the one job, not canceled", list.Jobs)
	}
	resp, body = rawRequest(t, addr, request("DELETE", "/work/1", addr, nil, "", ""))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("DELETE /work/1 from 127.0.0.1: %d %s, want 200: it was still to cancel", resp.StatusCode, body)
	}
}

// TestLoopbackHostsAnswered checks the spellings of loopback a client may
// send, and the absence of a Host, reach the API.
func TestLoopbackHostsAnswered(t *testing.T) {
	t.Parallel()
	addr := startRun(t, "-n", "1")
	_, port, _ := net.SplitHostPort(addr)
	for _, host := range []string{
		addr, "localhost:" + port, "[::1]:" + port, "localhost", "127.0.0.1",
		"localhost.:" + port, "LOCALHOST:" + port, "LocalHost.", "127.1.2.3:" + port, "[::ffff:127.0.0.1]", "[::ffff:127.0.0.1]:" + port,
		"dashboard.localhost:" + port, "localhost:80", "", // HTTP/1.1 with an empty Host field
	} {
		resp, body := rawRequest(t, addr, request("POST", "/work", host, map[string]string{"Sec-Fetch-Site": "same-origin"}, "application/x-www-form-urlencoded", "name=local&delay=0s"))
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("POST /work with Host %q: %d %s, want 201", host, resp.StatusCode, body)
		}
		resp, body = rawRequest(t, addr, request("GET", "/workers", host, nil, "", ""))
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /workers with Host %q: %d %s, want 200", host, resp.StatusCode, body)
		}
	}
	for _, raw := range []string{
		"GET /healthz HTTP/1.0\r\n\r\n", // no Host: what HAProxy's health check sends
		"GET http://localhost:" + port + "/healthz HTTP/1.1\r\nHost: rebind.attacker.test\r\nConnection: close\r\n\r\n",
	} {
		if resp, body := rawRequest(t, addr, raw); resp.StatusCode != http.StatusOK {
			t.Errorf("%q: %d %s, want 200", raw, resp.StatusCode, body)
		}
	}
}

// TestAllowHost checks the names of -allow-host are answered, in any case
// and with any port, and no other name is, not even one under them.
func TestAllowHost(t *testing.T) {
	t.Parallel()
	addr := startRun(t, "-allow-host", "proxy.test", "-allow-host", "Other.Test.,192.0.2.7")
	for host, want := range map[string]int{
		"proxy.test":           http.StatusOK,
		"PROXY.Test:443":       http.StatusOK,
		"proxy.test.:8080":     http.StatusOK,
		"other.test":           http.StatusOK,
		"192.0.2.7:80":         http.StatusOK,
		addr:                   http.StatusOK,
		"sub.proxy.test":       http.StatusMisdirectedRequest,
		"proxy.test.evil":      http.StatusMisdirectedRequest,
		"xproxy.test":          http.StatusMisdirectedRequest,
		"192.0.2.8":            http.StatusMisdirectedRequest,
		"rebind.attacker.test": http.StatusMisdirectedRequest,
	} {
		resp, body := rawRequest(t, addr, request("GET", "/work", host, nil, "", ""))
		if resp.StatusCode != want {
			t.Errorf("GET /work with Host %q: %d %s, want %d", host, resp.StatusCode, body, want)
		}
		if want == http.StatusMisdirectedRequest {
			check421(t, "Host "+host, resp, body)
		}
	}
}

// TestBeyondLoopbackNotChecked checks a server on 0.0.0.0 does not judge
// the Host: there only a token can tell a client from another.
func TestBeyondLoopbackNotChecked(t *testing.T) {
	t.Parallel()
	listen := startRun(t, "-http", "0.0.0.0:0", "-insecure")
	_, port, _ := net.SplitHostPort(listen)
	addr := net.JoinHostPort("127.0.0.1", port)
	resp, body := rawRequest(t, addr, request("POST", "/work", "rebind.attacker.test:"+port, nil, "application/x-www-form-urlencoded", "name=anyone&delay=0s"))
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("POST /work with an attacker's Host on 0.0.0.0: %d %s, want 201", resp.StatusCode, body)
	}
}

// TestBinaryRebindingRunsNoCommand sends a rebound page's POST /work to the
// binary running a command: 421, and the command never runs. A job posted
// after it from 127.0.0.1 does run, so the command would have shown it.
func TestBinaryRebindingRunsNoCommand(t *testing.T) {
	t.Parallel()
	ran := filepath.Join(t.TempDir(), "ran")
	p := startBinary(t, "-n", "1", "--", "/bin/sh", "-c", `printf '%s\n' "$WORKQUEUE_NAME" >> "$1"`, "sh", ran)
	addr := strings.TrimPrefix(p.url, "http://")
	_, port, _ := net.SplitHostPort(addr)
	attacker := "rebind.attacker.test:" + port
	resp, body := rawRequest(t, addr, request("POST", "/work", attacker,
		map[string]string{"Origin": "http://" + attacker, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"},
		"application/x-www-form-urlencoded", "name=rebound&delay=0s"))
	check421(t, "POST /work from a rebound page", resp, body)

	id := p.postJob(t, "local")
	if j := waitFinal(t, p, id); j.State != "done" {
		t.Fatalf("the job from 127.0.0.1 ended %s, want done", j.State)
	}
	time.Sleep(50 * time.Millisecond) // a job accepted before it would have run first (-n 1): this is slack only
	got, err := os.ReadFile(ran)
	if err != nil || string(got) != "local\n" {
		t.Errorf("the command ran for %q, %v; want for the job from 127.0.0.1 alone", got, err)
	}
	if n := p.metric(t, "workqueue_jobs_accepted_total"); n != 1 {
		t.Errorf("workqueue_jobs_accepted_total %d, want 1", n)
	}
}

// TestDocsHostCheck runs the curl transcript of docs/operations.md's section on
// the Host check against a server on 127.0.0.1, and checks the answer is
// the one shown, to the byte (the port aside).
func TestDocsHostCheck(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	const heading = "## The Host check"
	section, ok := strings.CutPrefix(string(b)[max(strings.Index(string(b), heading), 0):], heading)
	if !ok {
		t.Fatalf("docs/operations.md has no section %q", heading)
	}
	if end := strings.Index(section, "\n#"); end >= 0 {
		section = section[:end]
	}
	blocks := strings.Split(section, "\n    $ curl ")[1:]
	if len(blocks) != 1 {
		t.Fatalf("docs/operations.md's %q shows %d curl commands, want 1", heading, len(blocks))
	}
	lines := strings.Split(blocks[0], "\n")
	tr := parseCurl(t, "docs/operations.md", lines[0])
	var out []string
	for _, l := range lines[1:] {
		if l != "" && !strings.HasPrefix(l, "    ") {
			break
		}
		out = append(out, strings.TrimPrefix(l, "    "))
	}
	tr.readAnswer(t, "docs/operations.md", out)

	addr := startRun(t)
	_, port, _ := net.SplitHostPort(addr)
	host := strings.Replace(tr.header.Get("Host"), ":8000", ":"+port, 1)
	resp, body := rawRequest(t, addr, request(tr.method, tr.target, host, nil, "", ""))
	if resp.StatusCode != tr.status {
		t.Errorf("%s: status %d, the docs show %d", tr.command, resp.StatusCode, tr.status)
	}
	for name := range tr.shown {
		if got, want := resp.Header.Get(name), tr.shown.Get(name); got != want {
			t.Errorf("%s: %s %q, the docs show %q", tr.command, name, got, want)
		}
	}
	if got := strings.TrimSuffix(strings.ReplaceAll(body, ":"+port, ":8000"), "\n"); got != tr.body {
		t.Errorf("%s:\n got: %s\ndocs: %s", tr.command, got, tr.body)
	}
}
