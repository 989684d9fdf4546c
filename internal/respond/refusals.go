package respond

import (
	"net/http"
	"path"
	"strings"
	"time"
)

// CanonicalPaths answers a request whose path is not canonical (//work,
// /./work, /work/../work) as http.ServeMux would, with 307 Temporary
// Redirect to the cleaned path, but with a JSON body saying so: without it
// the mux answers an empty body. 307 keeps the method and body (RFC 9110
// §15.4.8), so a client that follows it submits its job once, at the right
// path. Every other request goes to mux.
func CanonicalPaths(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		if r.Method == http.MethodConnect || !needsCleaning(p) {
			mux.ServeHTTP(w, r)
			return
		}
		clean := cleanPath(p)
		loc := clean
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		CloseUnread(w, r)
		w.Header()["Location"] = []string{loc}
		Error(w, http.StatusTemporaryRedirect, "the path is "+Quote(clean)+", not "+Quote(p)+": send the request there (see Location)")
	})
}

// needsCleaning reports whether cleanPath would change p; it is quick for
// the paths of nearly every request, which are clean.
func needsCleaning(p string) bool {
	switch {
	case p == "" || p[0] != '/' || strings.Contains(p, "//"):
		return true
	case strings.Contains(p, "/."): // "/./", "/../", or only a name such as "/.well-known"
		return cleanPath(p) != p
	}
	return false
}

// cleanPath returns the canonical form of p, as http.ServeMux makes it: p
// with a leading slash, and without empty, "." and ".." elements, keeping
// a trailing slash.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
}

// CloseUnread marks the answer to r, a request refused without reading its
// body, as the last on its connection, so that neither the connection nor
// its goroutine is held while net/http discards a body nobody wants.
// "Connection: close" (RFC 9112 §9.6) suffices for a client that sent its
// body at once: net/http reads what arrived and closes. A client that sent
// "Expect: 100-continue" (RFC 9110 §10.1.1) waits for a 100 that never
// comes, while net/http, closing the body after the answer, would wait to
// discard up to 256 KiB of it until the read timeout; a read deadline
// already past makes that read fail at once, and the connection closes.
// Call it before writing the answer.
func CloseUnread(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 {
		return
	}
	w.Header()["Connection"] = []string{"close"}
	if r.ProtoAtLeast(1, 1) && strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		http.NewResponseController(w).SetReadDeadline(time.Now()) // not supported in tests' recorders
	}
}

// MethodNotAllowed returns a handler that answers 405 Method Not Allowed
// with the Allow header set to allow (RFC 9110 §15.5.6), such as "GET, POST".
func MethodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		CloseUnread(w, r)
		w.Header().Set("Allow", allow)
		Error(w, http.StatusMethodNotAllowed, Clip(r.Method)+" is not allowed here; use "+allow)
	}
}

// CrossOrigin wraps h in http.CrossOriginProtection: a browser request that
// would change state (POST, PUT, DELETE) from another site is answered 403,
// so that a page elsewhere cannot submit, cancel or resize through a user's
// browser. Requests without Sec-Fetch-Site or Origin, such as curl's, pass.
func CrossOrigin(h http.Handler) http.Handler {
	p := http.NewCrossOriginProtection()
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		CloseUnread(w, r)
		Error(w, http.StatusForbidden, "cross-origin request refused: "+r.Method+
			" from a page of another site may not change this server's state (send it from this server's own page, or without a browser)")
	}))
	return p.Handler(h)
}
