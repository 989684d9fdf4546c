// Package respond writes the server's answers: JSON bodies, errors with a
// message a user can act on, and refusals.
package respond

import (
	"encoding/json"
	"net/http"
	"time"
)

// JSON answers with status and body, a JSON value, sent as
// application/json with X-Content-Type-Options: nosniff.
func JSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(status)
	w.Write(body) // an error here is the client hanging up
}

// Error answers with status and {"error": msg}.
func Error(w http.ResponseWriter, status int, msg string) {
	Object(w, status, "error", msg)
}

// Object answers with status and the JSON object {key: value}.
func Object(w http.ResponseWriter, status int, key, value string) {
	b := append(AppendString(append(make([]byte, 0, 64), '{'), key), ':')
	JSON(w, status, append(AppendString(b, value), "}\n"...))
}

// AppendTime appends t as encoding/json does: a quoted RFC 3339 time, to the
// nanosecond.
func AppendTime(b []byte, t time.Time) []byte {
	return append(t.AppendFormat(append(b, '"'), time.RFC3339Nano), '"')
}

// AppendString appends s as a JSON string (RFC 8259 §7), as encoding/json
// does. Plain ASCII, most names, is copied as it is; anything else goes
// through encoding/json, so the escaping is always its own.
func AppendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
