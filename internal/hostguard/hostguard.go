// Package hostguard refuses, with 421 Misdirected Request, every request to a
// server listening on loopback whose Host is not a loopback name, so that a
// web page cannot reach the server by DNS rebinding.
//
// A page at http://rebind.attacker.test:8000/ whose name its owner then
// points at 127.0.0.1 is, to the browser, talking to its own origin: its
// requests carry Sec-Fetch-Site: same-origin, pass http.CrossOriginProtection,
// and may read the answers. What gives it away is its Host, the attacker's
// name: a server that only ever meant to be reached as localhost or
// 127.0.0.1 answers no other, unless told to (-allow-host NAME, such as the
// name a reverse proxy forwards).
package hostguard

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"workqueue/internal/respond"
)

// Handler returns h guarded for a server listening on addr. If addr is a
// loopback address (127.0.0.0/8 or ::1), a request whose Host is neither a
// loopback name or address — localhost, a name under .localhost (RFC 6761
// §6.3), 127.0.0.0/8, [::1], [::ffff:127.x.y.z], with any port or none,
// in any case, with or without a trailing dot — nor one of allow (names as
// ParseName returns them, also with any port) is answered 421 Misdirected
// Request (RFC 9110 §15.5.20) with a JSON error saying which names to use;
// h never sees it. A request with an empty Host (HTTP/1.0 without one, or an
// empty Host field), which no browser sends, is taken as addressed to the
// server's own name (RFC 9112 §3.3) and passes. For any other addr (0.0.0.0,
// ::, an address on a network) Handler returns h itself: there the Host
// proves nothing, and h must guard itself. Names of allow that ParseName
// refuses are ignored.
func Handler(addr net.Addr, allow []string, h http.Handler) http.Handler {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsLoopback() {
		return h
	}
	port := strconv.Itoa(tcp.Port)
	g := &guard{
		next:  h,
		local: [...]string{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port},
		allow: map[string]bool{},
		ips:   map[netip.Addr]bool{},
		port:  port,
	}
	for _, name := range allow {
		if n, err := ParseName(name); err == nil {
			if a, err := netip.ParseAddr(n); err == nil {
				g.ips[a] = true
			} else {
				g.allow[n] = true
			}
		}
	}
	return g
}

// guard is the Handler of a server listening on loopback.
type guard struct {
	next http.Handler
	// local are the Hosts of nearly every request a loopback server gets,
	// from a browser's address bar, curl or the dashboard: equal to one of
	// them, a Host is allowed at the cost of comparing a few bytes.
	local [3]string
	allow map[string]bool     // the host names of -allow-host, as ParseName returns them
	ips   map[netip.Addr]bool // its IP addresses, IPv4 ones unmapped
	port  string              // the port listened on, for the message
}

// ServeHTTP hands r to the next handler if its Host is allowed, and
// answers 421 if not.
func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := r.Host; h == g.local[0] || h == g.local[1] || h == g.local[2] || g.allowed(h) {
		g.next.ServeHTTP(w, r)
		return
	}
	respond.CloseUnread(w, r)
	msg := "Host " + respond.Quote(r.Host) + " is not a name of this server: it listens on loopback and answers only to localhost, 127.0.0.1 and [::1], " +
		"so that no web page can reach it by DNS rebinding; use http://localhost:" + g.port + "/ or http://127.0.0.1:" + g.port + "/"
	name, _, ok := splitHost(r.Host)
	if n, err := ParseName(name); ok && err == nil {
		msg += ", or, if " + n + " is a name of yours (a reverse proxy's, say), start the server with -allow-host " + n
	} else {
		msg += ", or start the server with -allow-host NAME to answer to a name of yours"
	}
	respond.Error(w, http.StatusMisdirectedRequest, msg)
}

// allowed reports whether host, a request's Host, names this server: a
// loopback name or address, or a name of allow, with any port. An empty
// host, what a client that sends no Host gets, is allowed.
func (g *guard) allowed(host string) bool {
	if host == "" {
		return true
	}
	name, literal, ok := splitHost(host)
	if !ok {
		return false
	}
	name = strings.TrimSuffix(name, ".")
	if literal || isIPv4(name) {
		a, err := netip.ParseAddr(name)
		if err != nil || a.Zone() != "" {
			return false
		}
		a = a.Unmap()
		return a.IsLoopback() || g.ips[a]
	}
	if strings.EqualFold(name, "localhost") || len(name) > len(".localhost") && strings.EqualFold(name[len(name)-len(".localhost"):], ".localhost") {
		return true
	}
	if len(name) > maxName {
		return false
	}
	var lower [maxName]byte // on the stack: judging a Host allocates nothing
	b := lower[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return g.allow[string(b)]
}

// maxName is the longest host name, without its trailing dot (RFC 1035
// §2.3.4, as written in text).
const maxName = 253

// splitHost splits host, a Host header's value, into its name and its port,
// which must be empty or decimal digits, and returns the name, whether it
// was an IP literal in brackets (returned without them), and whether host
// had that shape.
func splitHost(host string) (name string, literal, ok bool) {
	port := ""
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return "", false, false
		}
		name, port, literal = host[1:end], host[end+1:], true
		if port != "" && port[0] != ':' {
			return "", false, false
		}
	} else {
		name, port = host, ""
		if i := strings.IndexByte(host, ':'); i >= 0 {
			name, port = host[:i], host[i:]
		}
	}
	if port != "" {
		for _, c := range port[1:] {
			if c < '0' || c > '9' {
				return "", false, false
			}
		}
	}
	return name, literal, name != ""
}

// isIPv4 reports whether name looks like a dotted IPv4 address rather than
// a host name: it holds only digits and dots (a top-level domain is never
// all digits, RFC 3696 §2).
func isIPv4(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// ParseName returns s, a name for -allow-host, as Handler compares it: a
// host name in lower case without its trailing dot, or an IP address in its
// canonical form (an IPv6 one without brackets). It refuses, saying why,
// anything else: a port (any port is allowed), a scheme, a path or a
// wildcard.
func ParseName(s string) (string, error) {
	if s == "" {
		return "", errors.New("want a host name such as proxy.example")
	}
	lit := s
	if strings.HasPrefix(lit, "[") && strings.HasSuffix(lit, "]") {
		lit = lit[1 : len(lit)-1]
	}
	if a, err := netip.ParseAddr(lit); err == nil && a.Zone() == "" {
		return a.Unmap().String(), nil
	}
	switch {
	case strings.Contains(s, "://"):
		return "", errors.New("want a host name alone, without a scheme or path, such as proxy.example")
	case strings.Contains(s, "*"):
		return "", errors.New("want a host name such as proxy.example; wildcards are not supported, give each name")
	case strings.Contains(s, ":"):
		return "", errors.New("want a host name without a port, such as proxy.example: any port is allowed")
	}
	name := strings.ToLower(strings.TrimSuffix(s, "."))
	if len(name) > maxName || name == "" {
		return "", errors.New("want a host name of 1 to 253 characters, such as proxy.example")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", errors.New("want a host name such as proxy.example: dot-separated labels of 1 to 63 letters, digits, '-' or '_', not starting or ending with '-'")
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", errors.New("want a host name such as proxy.example: letters, digits, '-', '_' and dots only")
			}
		}
	}
	if isIPv4(name) {
		return "", errors.New("want a host name or an IP address such as 192.0.2.1")
	}
	return name, nil
}
