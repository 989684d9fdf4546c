package hostguard

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// next is the guarded handler of the tests: it counts the requests it gets
// and answers 200.
type next struct{ served int }

func (n *next) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.served++
	w.WriteHeader(http.StatusOK)
}

var loopback8000 = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8000}

// allowed are names given with -allow-host in the tests, as a user may
// write them.
var allowed = []string{"proxy.example", "Other.Example.", "192.0.2.7", "[2001:db8::1]", "svc_1"}

// serve sends a request with host as its Host to g and returns the answer.
func serve(g http.Handler, method, host string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/work", nil)
	r.Host = host
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	return w
}

// TestLoopbackHosts checks which Hosts a server on 127.0.0.1:8000 answers:
// loopback names and addresses in any of their spellings and the names of
// -allow-host pass, and every other Host is 421 without reaching the
// handler.
func TestLoopbackHosts(t *testing.T) {
	pass := []string{
		"127.0.0.1:8000", "localhost:8000", "[::1]:8000", // the fast path
		"127.0.0.1", "localhost", "[::1]", "localhost:1", "127.0.0.1:", // another port, or none
		"LOCALHOST", "LocalHost:8000", "localhost.", "localhost.:8000", "127.0.0.1.:8000", // case, the root's dot
		"127.1.2.3:8000", "127.255.255.255", "[0:0:0:0:0:0:0:1]:8000", // all of 127.0.0.0/8, ::1 written out
		"[::ffff:127.0.0.1]", "[::ffff:127.0.0.1]:8000", "[::FFFF:7f00:1]", "[127.0.0.1]", // IPv4-mapped IPv6
		"app.localhost:8000", "A.B.LOCALHOST.", // RFC 6761 §6.3
		"",                                                                           // no Host: HTTP/1.0, or an empty Host field
		"proxy.example", "PROXY.example:443", "proxy.example.", "other.example:8080", // -allow-host, in any case
		"192.0.2.7:80", "[::ffff:192.0.2.7]", "[2001:db8::1]:80", "[2001:DB8:0::1]", "SVC_1:80",
	}
	refuse := []string{
		"rebind.attacker.test:8000", "rebind.attacker.test", "rebind.attacker.test.:8000", "REBIND.ATTACKER.TEST",
		"localhost.attacker.test", "evillocalhost:8000", "localhostx", "localhost..", "127.0.0.1.attacker.test",
		"sub.proxy.example", "proxy.example.attacker.test", "xproxy.example", "192.0.2.77",
		"0.0.0.0:8000", "192.168.1.10:8000", "[::]:8000", "[fe80::1%25lo]:8000", "[::1%25lo]:8000", "[2001:db8::2]",
		"127.1", "127.0.0.01", "2130706433", "0x7f.0.0.1", // not how a browser writes 127.0.0.1: it never sends these
		"::1", "::1:8000", "::ffff:127.0.0.1", "[::1", "[::1]x", "[::1]:80x", "[localhost]", "[]",
		"localhost:8000:1", "localhost:-1", "localhost:http", "127.0.0.1:8000 ", " localhost", ".", ":8000",
	}
	g := Handler(loopback8000, allowed, nil)
	for _, host := range pass {
		n := new(next)
		g.(*guard).next = n
		if w := serve(g, "POST", host); w.Code != http.StatusOK || n.served != 1 {
			t.Errorf("Host %q: status %d, served %d times; want it passed to the handler", host, w.Code, n.served)
		}
	}
	for _, host := range refuse {
		n := new(next)
		g.(*guard).next = n
		w := serve(g, "POST", host)
		if w.Code != http.StatusMisdirectedRequest || n.served != 0 {
			t.Errorf("Host %q: status %d, served %d times; want 421 and the handler never called", host, w.Code, n.served)
			continue
		}
		checkRefusal(t, host, w, "8000")
	}
}

// checkRefusal checks w is a 421 whose JSON error tells the user what to do.
func checkRefusal(t *testing.T, host string, w *httptest.ResponseRecorder, port string) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Host %q: Content-Type %q, want application/json", host, ct)
	}
	var body map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body) != 1 || body["error"] == "" {
		t.Fatalf("Host %q: body %q, want {\"error\": ...}", host, w.Body)
	}
	for _, want := range []string{"http://localhost:" + port + "/", "http://127.0.0.1:" + port + "/", "-allow-host", "DNS rebinding"} {
		if !strings.Contains(body["error"], want) {
			t.Errorf("Host %q: error %q does not say %q", host, body["error"], want)
		}
	}
}

// TestRefusalSuggestsAllowHost checks the 421 names the flag that would let
// the Host through, with the name as the flag takes it, when the Host is a
// well-formed name.
func TestRefusalSuggestsAllowHost(t *testing.T) {
	g := Handler(loopback8000, nil, new(next))
	for host, want := range map[string]string{
		"Proxy.Internal.:8080": "start the server with -allow-host proxy.internal",
		"[2001:db8::1]:80":     "start the server with -allow-host 2001:db8::1",
		"[::1":                 "",
		"a*b":                  "",
	} {
		msg := serve(g, "GET", host).Body.String()
		if want != "" && !strings.Contains(msg, want) {
			t.Errorf("Host %q: %s; want it to say %q", host, msg, want)
		}
		if want == "" && !strings.Contains(msg, "start the server with -allow-host NAME") {
			t.Errorf("Host %q: %s; want the flag suggested without a name for a malformed Host", host, msg)
		}
	}
}

// TestRefusalOfABody checks a refused request with a body is the last on
// its connection, as every refusal before the body is read.
func TestRefusalOfABody(t *testing.T) {
	g := Handler(loopback8000, nil, new(next))
	r := httptest.NewRequest("POST", "/work", strings.NewReader("name=x"))
	r.Host = "rebind.attacker.test:8000"
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	if w.Code != http.StatusMisdirectedRequest || w.Header().Get("Connection") != "close" {
		t.Errorf("status %d, Connection %q; want 421 and close", w.Code, w.Header().Get("Connection"))
	}
}

// TestIPv6Loopback checks a server on [::1] is guarded as one on 127.0.0.1.
func TestIPv6Loopback(t *testing.T) {
	g := Handler(&net.TCPAddr{IP: net.IPv6loopback, Port: 9}, nil, new(next))
	if w := serve(g, "GET", "[::1]:9"); w.Code != http.StatusOK {
		t.Errorf("[::1]:9 on [::1]:9: status %d, want 200", w.Code)
	}
	w := serve(g, "GET", "rebind.attacker.test:9")
	if w.Code != http.StatusMisdirectedRequest {
		t.Fatalf("attacker Host on [::1]:9: status %d, want 421", w.Code)
	}
	checkRefusal(t, "rebind.attacker.test:9", w, "9")
}

// TestNotLoopback checks the Host is not judged on a server listening beyond
// loopback: Handler returns the handler itself.
func TestNotLoopback(t *testing.T) {
	for _, addr := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4zero, Port: 8000},
		&net.TCPAddr{IP: net.IPv6unspecified, Port: 8000},
		&net.TCPAddr{Port: 8000},
		&net.TCPAddr{IP: net.IPv4(192, 168, 1, 10), Port: 8000},
		&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 8000},
		&net.UnixAddr{Name: "/run/workqueue.sock", Net: "unix"},
		nil,
	} {
		n := new(next)
		if g := Handler(addr, allowed, n); g != http.Handler(n) {
			t.Errorf("Handler(%v) = %T, want the handler itself", addr, g)
		}
	}
	for _, ip := range []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 9, 9, 9), net.IPv6loopback, net.ParseIP("::ffff:127.0.0.1")} {
		if _, ok := Handler(&net.TCPAddr{IP: ip, Port: 1}, nil, new(next)).(*guard); !ok {
			t.Errorf("Handler(%v) is not guarded; want it guarded", ip)
		}
	}
}

// TestParseName checks the names -allow-host takes, and those it refuses
// with a reason.
func TestParseName(t *testing.T) {
	good := map[string]string{
		"proxy.example":         "proxy.example",
		"Proxy.Example.":        "proxy.example",
		"workqueue":             "workqueue",
		"svc_1":                 "svc_1",
		"a-b.c-d":               "a-b.c-d",
		"192.0.2.7":             "192.0.2.7",
		"::ffff:192.0.2.7":      "192.0.2.7",
		"[2001:DB8::1]":         "2001:db8::1",
		"2001:db8::1":           "2001:db8::1",
		"xn--bcher-kva.example": "xn--bcher-kva.example",
	}
	for in, want := range good {
		if got, err := ParseName(in); err != nil || got != want {
			t.Errorf("ParseName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                              "want a host name",
		".":                             "1 to 253",
		"proxy.example:8080":            "without a port",
		"[::1]:8080":                    "without a port",
		"http://proxy.example/":         "without a scheme",
		"*.example":                     "wildcards",
		"a..b":                          "labels",
		"-a.example":                    "labels",
		"a-.example":                    "labels",
		"bücher.example":                "letters, digits",
		"a b":                           "letters, digits",
		"a/b":                           "letters, digits",
		"127.1":                         "IP address",
		strings.Repeat("a", 64):         "labels",
		strings.Repeat("a.", 127) + "a": "1 to 253",
		"fe80::1%eth0":                  "without a port",
	}
	for in, want := range bad {
		if got, err := ParseName(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseName(%q) = %q, %v; want an error saying %q", in, got, err, want)
		}
	}
}

// TestNoAllocations checks judging a Host allocates nothing, on the fast
// path or off it.
func TestNoAllocations(t *testing.T) {
	g := Handler(loopback8000, allowed, new(next)).(*guard)
	for _, host := range []string{"127.0.0.1:8000", "localhost:9", "PROXY.example:443", "[::ffff:127.0.0.1]:8000", "[2001:db8::1]:80", "192.0.2.7", "rebind.attacker.test:8000"} {
		if n := testing.AllocsPerRun(100, func() { g.allowed(host) }); n != 0 {
			t.Errorf("judging Host %q: %v allocations, want 0", host, n)
		}
	}
}

// discard is a ResponseWriter that keeps nothing, for the benchmarks.
type discard struct{ h http.Header }

func (d discard) Header() http.Header       { return d.h }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// BenchmarkGuard measures the check on the Host of nearly every request
// (the fast path), on an allowed name, and on a loopback spelling off the
// fast path.
func BenchmarkGuard(b *testing.B) {
	for _, host := range []string{"127.0.0.1:8000", "proxy.example:443", "127.0.0.2:8000"} {
		b.Run(host, func(b *testing.B) {
			g := Handler(loopback8000, allowed, new(next))
			r := httptest.NewRequest("POST", "/work", nil)
			r.Host = host
			w := discard{http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				g.ServeHTTP(w, r)
			}
		})
	}
}
