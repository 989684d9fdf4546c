package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"workqueue/internal/config"
	"workqueue/internal/testutil"
)

// Two tokens of a test's token file; neither may ever appear in a log, an
// answer or the metrics.
const (
	tokenA = "tok-a-3f9c1e7d52b84a06"
	tokenB = "tok-b-0d6e2a9f17c34b58"
)

// writeTokens writes a token file holding tokenA and tokenB, with a comment
// and a blank line, of mode perm, and returns its path.
func writeTokens(t *testing.T, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(p, []byte("# the test's tokens\n"+tokenA+"\n\n  "+tokenB+"\n"), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
	return p
}

// apiRoutes returns every pattern the API's mux routes, read from the
// sources of internal/api (routes added there are checked without a change
// here): "GET /work/{id}", "/workers" (any method) and so on.
func apiRoutes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("internal/api/*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`mux\.Handle(?:Func)?\("([^"]+)"`)
	var routes []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			routes = append(routes, m[1])
		}
	}
	if !slices.Contains(routes, "POST /work") || !slices.Contains(routes, "GET /healthz") {
		t.Fatalf("routes read from internal/api: %q, want POST /work and GET /healthz among them", routes)
	}
	return routes
}

// request returns the method and path of a request that pattern routes,
// {id} being id. A pattern without a method gets PATCH, which no route
// takes: its 405.
func routeRequest(pattern, id string) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "PATCH", pattern
	}
	path = strings.ReplaceAll(path, "{id}", id)
	path = strings.TrimSuffix(path, "{$}")
	if strings.HasSuffix(path, "/") && path != "/" {
		path += "page.js" // a subtree such as /static/
	}
	return method, path
}

// TestBinaryTokensTLS runs the real binary with -tls-cert, -tls-key,
// -token-file and -node, and checks: HTTPS works with the test's CA, and
// neither plain HTTP nor a client that does not trust the CA gets an
// answer; every route and method of the API but GET /healthz is 401
// without a token, or with a wrong one, with both challenges, changing
// nothing (no job made, counted as unauthorized); Bearer and Basic both
// pass, /events included; no token is in the log or the metrics.
func TestBinaryTokensTLS(t *testing.T) {
	t.Parallel()
	certs := testutil.WriteCerts(t)
	tokens := writeTokens(t, 0o600)
	p := startBinary(t, "-tls-cert", certs.Cert, "-tls-key", certs.Key, "-token-file", tokens, "-node", "a", "-n", "1")
	base := strings.Replace(p.url, "http://", "https://", 1)
	tc, err := config.ClientTLS(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
	do := func(method, path, auth, body string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	if resp, body := do("GET", "/healthz", "", ""); resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < 0x0303 {
		t.Fatalf("GET /healthz over HTTPS without a token: %d %s (TLS %+v), want 200 over TLS 1.2 or later", resp.StatusCode, body, resp.TLS)
	}
	if resp, err := http.Get(p.url + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("GET /healthz over plain HTTP: 200, want no answer but a refusal")
		}
	}
	old := tc.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: old}, Timeout: 10 * time.Second}).Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("GET /healthz over TLS 1.1: %d, want a handshake refused (TLS 1.2 or later only)", resp.StatusCode)
	}
	untrusting := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	if resp, err := untrusting.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("GET /healthz from a client that does not trust the CA: %d, want a certificate error", resp.StatusCode)
	}

	// Every route, without a token and with a wrong one.
	wrong := map[string]string{"none": "", "wrong bearer": "Bearer " + tokenA + "x", "bearer of the comment": "Bearer # the test's tokens",
		"wrong basic": basicAuth("u", tokenB[:len(tokenB)-1]), "token as the user": basicAuth(tokenA, "")}
	posts := 0
	for _, pattern := range apiRoutes(t) {
		method, path := routeRequest(pattern, "a-1")
		for name, auth := range wrong {
			body := ""
			if method == "POST" || method == "PUT" {
				body = "name=intruder&delay=0s&workers=8"
			}
			resp, msg := do(method, path, auth, body)
			if pattern == "GET /healthz" {
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s %s (%s): %d %s, want 200 without a token", method, path, name, resp.StatusCode, msg)
				}
				continue
			}
			if method == "POST" && path == "/work" {
				posts++
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s (%s): status %d %s, want 401", method, path, name, resp.StatusCode, msg)
				continue
			}
			if got, want := resp.Header.Values("WWW-Authenticate"), []string{`Bearer realm="workqueue"`, `Basic realm="workqueue"`}; !slices.Equal(got, want) {
				t.Errorf("%s %s (%s): WWW-Authenticate %q, want %q", method, path, name, got, want)
			}
			var e struct{ Error string }
			if json.Unmarshal([]byte(msg), &e) != nil || e.Error == "" {
				t.Errorf("%s %s (%s): body %q, want a JSON error", method, path, name, msg)
			}
		}
	}
	if posts == 0 {
		t.Fatal("no POST /work among the routes")
	}

	// The Host check comes first: a rebound page learns nothing, not even
	// that a token is wanted, and no browser asks it for one.
	req, _ := http.NewRequest("GET", base+"/work", nil)
	req.Host = "rebind.attacker.test"
	if resp, err := client.Do(req); err != nil {
		t.Errorf("GET /work with a rebound Host: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest || resp.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("GET /work with a rebound Host, no token: %d, WWW-Authenticate %q; want 421 and no challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}

	bearer, basic := "Bearer "+tokenB, basicAuth("anyone", tokenA)
	// Nothing changed: no job, the pool as it was, the refusals counted.
	if _, body := do("GET", "/work", bearer, ""); body != "{\"jobs\":[]}\n" {
		t.Errorf("GET /work after the refused requests: %s, want no job", body)
	}
	if _, body := do("GET", "/workers", basic, ""); !strings.Contains(body, `"workers":1`) {
		t.Errorf("GET /workers after the refused PUT: %s, want 1 worker still", body)
	}
	_, metrics := do("GET", "/metrics", bearer, "")
	if want := `workqueue_jobs_rejected_total{reason="unauthorized"} ` + strconv.Itoa(posts); !strings.Contains(metrics, want+"\n") {
		t.Errorf("/metrics lacks %q:\n%s", want, metrics)
	}
	if !strings.Contains(metrics, "workqueue_jobs_accepted_total 0\n") {
		t.Errorf("/metrics: want no job accepted:\n%s", metrics)
	}

	// With a token, Bearer or Basic.
	resp, body := do("POST", "/work", bearer, "name=Alice&delay=0s")
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Location") != "/work/a-1" {
		t.Fatalf("POST /work with a Bearer token: %d %s (Location %q), want 201 at /work/a-1", resp.StatusCode, body, resp.Header.Get("Location"))
	}
	if resp, body := do("GET", "/work/a-1?wait=10s", basic, ""); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"state":"done"`) {
		t.Errorf("GET /work/a-1 with Basic: %d %s, want 200 done", resp.StatusCode, body)
	}
	if resp, body := do("GET", "/", basic, ""); resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET / with Basic: %d %.100s, want the page", resp.StatusCode, body)
	}
	req, _ = http.NewRequest("GET", base+"/events", nil)
	req.SetBasicAuth("", tokenB)
	if resp, err := client.Do(req); err != nil {
		t.Errorf("GET /events with Basic: %v", err)
	} else {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || line == "" {
			t.Errorf("GET /events with Basic: %d, first line %q; want 200 and a stream", resp.StatusCode, line)
		}
	}

	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("drain exited %d", code)
	}
	if got := greetings(t, p.stdout); !slices.Equal(got, []string{"Alice"}) {
		t.Errorf("greetings %q, want only Alice's", got)
	}
	for _, tok := range []string{tokenA, tokenB, tokenA[:12], tokenB[:12]} {
		if strings.Contains(p.stderr.String(), tok) || strings.Contains(metrics, tok) {
			t.Errorf("a token (%q) is in the log or the metrics:\n%s", tok, p.stderr)
		}
	}
}

// basicAuth returns the Authorization of HTTP Basic with user and password.
func basicAuth(user, password string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, password)
	return r.Header.Get("Authorization")
}

// TestBinaryExposure checks the refusals at start: -http beyond loopback
// without -token-file, a token file others may read or without a token, a
// certificate without its key; each exits 2 with one line saying why. With
// -insecure, the server beyond loopback starts and logs a warning.
func TestBinaryExposure(t *testing.T) {
	t.Parallel()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("# none yet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(short, []byte("too-short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	certs := testutil.WriteCerts(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-http", "0.0.0.0:0"}, "-http 0.0.0.0:0 is not a loopback address: anyone who can reach it could run jobs"},
		{[]string{"-http", ":0"}, "anyone who can reach it could run jobs"},
		{[]string{"-token-file", writeTokens(t, 0o644)}, "others may read or write the file (mode 0644)"},
		{[]string{"-token-file", writeTokens(t, 0o620)}, "chmod 600"},
		{[]string{"-token-file", empty}, "no token in it"},
		{[]string{"-token-file", short}, "line 1: a token of 9 bytes is too short"},
		{[]string{"-tls-cert", certs.Cert}, "-tls-cert needs -tls-key"},
		{[]string{"-tls-cert", certs.Cert, "-tls-key", certs.Cert}, "-tls-cert " + certs.Cert + " with -tls-key"},
		{[]string{"-tls-ca", certs.Key}, "holds no PEM certificate"},
	} {
		cmd := exec.Command(binary, tt.args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("workqueue %q: %v, %q; want exit 2 and one line saying %q", tt.args, err, stderr.String(), tt.want)
		}
		if strings.Contains(stderr.String(), "too-short") {
			t.Errorf("workqueue %q: the message quotes the token: %q", tt.args, stderr.String())
		}
	}
	p := spawn(t, "-http", "0.0.0.0:0", "-insecure")
	waitListening(t, p.stderr, p.exited)
	if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool {
		return strings.Contains(p.stderr.String(), "level=WARN msg=\"-insecure: listening beyond loopback without -token-file; anyone who can reach the address can run jobs\"")
	}) {
		t.Errorf("-insecure beyond loopback: no warning in the log:\n%s", p.stderr)
	}
	p = startBinary(t, "-http", "0.0.0.0:0", "-token-file", writeTokens(t, 0o400))
	p.signal(t, syscall.SIGTERM)
	p.wait(t, 10*time.Second) // its log complete
	if strings.Contains(p.stderr.String(), "level=WARN") {
		t.Errorf("beyond loopback with -token-file: a warning:\n%s", p.stderr)
	}
}
