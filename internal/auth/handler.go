package auth

import (
	"net/http"
	"strings"

	"workqueue/internal/respond"
)

// Handler returns h behind the token check: a request that carries one of
// t's tokens, as "Authorization: Bearer TOKEN" or as the password of
// "Authorization: Basic" (any user name), goes to h; so does GET or HEAD
// /healthz, which a load balancer checks without a token. Any other is
// answered 401 Unauthorized with a JSON error and the challenge, h never
// seeing it, and refused, if not nil, is called with it first (to count
// it). A token is never logged nor echoed. t nil returns h itself: the
// server without -token-file.
func Handler(t *Tokens, refused func(*http.Request), h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t.Valid(token(r)) || r.URL.Path == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			h.ServeHTTP(w, r)
			return
		}
		if refused != nil {
			refused(r)
		}
		respond.CloseUnread(w, r)
		// The challenge (RFC 9110 §11.6.1), one field value a scheme:
		// Bearer for clients, Basic so that a browser asks for the token
		// (as the password) and sends it with every later request to the
		// server, /events included, which EventSource gives no header.
		w.Header()["Www-Authenticate"] = []string{`Bearer realm="workqueue"`, `Basic realm="workqueue"`}
		msg := "this server wants a token: send Authorization: Bearer TOKEN, or the token as the password of HTTP Basic"
		if r.Header.Get("Authorization") != "" {
			msg = "the token of this request is not one of the server's: send Authorization: Bearer TOKEN with a token of its -token-file"
		}
		respond.Error(w, http.StatusUnauthorized, msg)
	})
}

// token returns the token r carries, or "" for none: the credentials of a
// Bearer Authorization (the scheme in any case, RFC 9110 §11.1), or the
// password of a Basic one.
func token(r *http.Request) string {
	v := r.Header.Get("Authorization")
	if scheme, cred, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimLeft(cred, " ")
	}
	if _, password, ok := r.BasicAuth(); ok {
		return password
	}
	return ""
}
