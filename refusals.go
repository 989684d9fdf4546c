package main

import (
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// canonicalPaths answers a request whose path is not canonical (//work,
// /./work, /work/../work) as http.ServeMux would, with 307 Temporary
// Redirect to the cleaned path, but with a JSON body saying so: without it
// the mux answers an empty body. 307 keeps the method and body, so a client
// that follows it submits its job once, at the right path.
func canonicalPaths(mux http.Handler) http.Handler {
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
		closeUnread(w, r)
		w.Header()["Location"] = []string{loc}
		writeError(w, http.StatusTemporaryRedirect, "the path is "+quote(clean)+", not "+quote(p)+": send the request there (see Location)")
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

// closeUnread marks the answer to r, a request refused without reading its
// body, as the last on its connection, so that neither the connection nor
// its goroutine is held while net/http discards a body nobody wants.
// "Connection: close" suffices for a client that sent its body at once:
// net/http reads what arrived and closes. A client that sent
// "Expect: 100-continue" waits for a 100 that never comes, while net/http,
// closing the body after the answer, would wait to discard up to 256 KiB of
// it until the read timeout; a read deadline already past makes that read
// fail at once, and the connection closes.
func closeUnread(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 {
		return
	}
	w.Header()["Connection"] = []string{"close"}
	if r.ProtoAtLeast(1, 1) && strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		http.NewResponseController(w).SetReadDeadline(time.Now()) // not supported in tests' recorders
	}
}

// maxEcho is the most bytes of a client's input that an error message
// quotes: enough to recognize it, never an echo of a 60 KB path.
const maxEcho = 64

// clip returns s, or its first maxEcho bytes at most, cut at a character
// boundary, followed by "…".
func clip(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	i := maxEcho
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// quote quotes clip(s) for an error message, escaping anything unprintable
// (control characters, line separators and bidirectional controls among
// them), as strconv.Quote does.
func quote(s string) string {
	return strconv.Quote(clip(s))
}
