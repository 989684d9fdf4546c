package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// csrfHeaders are the headers a browser, or curl, sends with a request:
// what http.CrossOriginProtection judges.
type csrfHeaders struct {
	name       string
	header     map[string]string // "Origin" set to "self" means the test server's own origin
	wantRefuse bool
}

var csrfCases = []csrfHeaders{
	{"Sec-Fetch-Site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
	{"Sec-Fetch-Site same-site", map[string]string{"Sec-Fetch-Site": "same-site"}, true},
	{"foreign Origin, no Sec-Fetch-Site", map[string]string{"Origin": "https://evil.example"}, true},
	{"cross-site with our own Origin", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "self"}, true},
	{"Sec-Fetch-Site same-origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, false},
	{"Sec-Fetch-Site none (typed in the address bar)", map[string]string{"Sec-Fetch-Site": "none"}, false},
	{"our own Origin, no Sec-Fetch-Site", map[string]string{"Origin": "self"}, false},
	{"no such headers (curl)", nil, false},
}

// csrfRequest sends method target with body to the test server at base,
// with the headers of h, and returns the response's status and body.
func csrfRequest(t *testing.T, base, method, target, contentType, body string, h csrfHeaders) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range h.header {
		if k == "Origin" && v == "self" {
			v = base
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if h.wantRefuse && resp.StatusCode == http.StatusForbidden && resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s refused with Content-Type %q, want application/json", method, target, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, string(b)
}

// checkCSRF checks the status of a state-changing request: 403 with a
// message saying why when refused, want otherwise.
func checkCSRF(t *testing.T, h csrfHeaders, what string, code int, body string, want int) {
	t.Helper()
	switch {
	case h.wantRefuse && code != http.StatusForbidden:
		t.Fatalf("%s: status = %d, want 403; body %s", what, code, body)
	case h.wantRefuse && !strings.Contains(body, "cross-origin request refused"):
		t.Errorf("%s: 403 body %s, want it to say the cross-origin request was refused", what, body)
	case !h.wantRefuse && code != want:
		t.Fatalf("%s: status = %d, want %d; body %s", what, code, want, body)
	}
}

// TestCSRFSubmit checks that POST /work from another site's page is
// refused and accepts nothing, while curl and the server's own page submit.
func TestCSRFSubmit(t *testing.T) {
	for _, h := range csrfCases {
		t.Run(h.name, func(t *testing.T) {
			ts := newTestServer(t, testConfig(), Sleep)
			base := httpServer(t, ts)
			code, body := csrfRequest(t, base, "POST", "/work", "application/x-www-form-urlencoded", "name=csrf&delay=0s", h)
			checkCSRF(t, h, "POST /work", code, body, http.StatusCreated)
			want := int64(1)
			if h.wantRefuse {
				want = 0
			}
			if got := ts.stats.Accepted.Load(); got != want {
				t.Errorf("jobs accepted = %d, want %d", got, want)
			}
		})
	}
}

// TestCSRFCancel checks that DELETE /work/{id} from another site's page is
// refused and leaves the job queued, while curl and the server's own page
// cancel it.
func TestCSRFCancel(t *testing.T) {
	for _, h := range csrfCases {
		t.Run(h.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Workers = 1
			started := make(chan *WorkRequest, 2)
			g := newGate(started)
			ts := newTestServer(t, cfg, g.work)
			base := httpServer(t, ts)
			ts.submit("held", "0s")
			receive(t, started, 1)
			id := decodeJob(t, ts.submit("waiting", "0s").Body.Bytes()).ID
			code, body := csrfRequest(t, base, "DELETE", "/work/"+id, "", "", h)
			checkCSRF(t, h, "DELETE /work/"+id, code, body, http.StatusOK)
			want := "canceled"
			if h.wantRefuse {
				want = "queued"
			}
			if j := decodeJob(t, ts.do("GET", "/work/"+id, "", "").Body.Bytes()); j.State != want {
				t.Errorf("job %s: state %q, want %q", id, j.State, want)
			}
			close(g.open)
		})
	}
}

// TestCSRFResize checks that PUT /workers from another site's page is
// refused and leaves the pool's target as it was, while curl and the
// server's own page resize.
func TestCSRFResize(t *testing.T) {
	for _, h := range csrfCases {
		t.Run(h.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Workers = 2
			ts := newTestServer(t, cfg, Sleep)
			base := httpServer(t, ts)
			code, body := csrfRequest(t, base, "PUT", "/workers", "application/json", `{"workers":7}`, h)
			checkCSRF(t, h, "PUT /workers", code, body, http.StatusOK)
			want := 7
			if h.wantRefuse {
				want = 2
			}
			var d poolDoc
			json.Unmarshal(ts.do("GET", "/workers", "", "").Body.Bytes(), &d)
			if d.Target != want {
				t.Errorf("target = %d, want %d", d.Target, want)
			}
		})
	}
}

// TestCSRFAllowsReads checks that a cross-site GET is answered: reading
// changes nothing, and the browser's same-origin policy keeps the answer
// from the other site's script.
func TestCSRFAllowsReads(t *testing.T) {
	ts := newTestServer(t, testConfig(), Sleep)
	base := httpServer(t, ts)
	cross := csrfHeaders{name: "cross-site", header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}}
	id := decodeJob(t, ts.submit("read", "0s").Body.Bytes()).ID
	for _, target := range []string{"/workers", "/work/" + id, "/healthz", "/metrics", "/"} {
		if code, body := csrfRequest(t, base, "GET", target, "", "", cross); code != http.StatusOK {
			t.Errorf("cross-site GET %s: status = %d, want 200; body %s", target, code, body)
		}
	}
}
