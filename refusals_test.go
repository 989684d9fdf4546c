package main

import (
	"cmp"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"workqueue/internal/submit"
)

// TestNonCanonicalPaths checks that a path http.ServeMux would clean and
// redirect gets its redirect with a JSON body, keeps its query, and makes
// no job.
func TestNonCanonicalPaths(t *testing.T) {
	ts := newTestServer(t, testConfig(), Sleep)
	tests := []struct {
		name, method, target, wantLocation string
	}{
		{"double slash", "POST", "//work?name=A", "/work?name=A"},
		{"dot-dot", "POST", "/work/../work?name=A&delay=1s", "/work?name=A&delay=1s"},
		{"dot", "POST", "/./work", "/work"},
		{"trailing dot", "POST", "/work/.", "/work"},
		{"double slash inside", "GET", "/work//1", "/work/1"},
		{"many slashes", "DELETE", "///work///1", "/work/1"},
		{"health", "GET", "/healthz/../healthz", "/healthz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := ts.do(tt.method, tt.target, form, "name=B")
			if rec.Code != http.StatusTemporaryRedirect {
				t.Fatalf("%s %s: status = %d, want 307; %s", tt.method, tt.target, rec.Code, rec.Body)
			}
			if got := rec.Header().Get("Location"); got != tt.wantLocation {
				t.Errorf("Location = %q, want %q", got, tt.wantLocation)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if got := decodeError(t, rec.Body.Bytes()); !strings.Contains(got, "the path is") {
				t.Errorf("error = %q, want it to name the path to use", got)
			}
		})
	}
	if got := ts.stats.Accepted.Load(); got != 0 {
		t.Errorf("accepted = %d after redirects only, want 0", got)
	}
	// Clean paths, and paths with dots that are not elements, are served.
	for _, target := range []string{"/work/.x", "/.well-known"} {
		if rec := ts.do("GET", target, "", ""); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status = %d, want 404", target, rec.Code)
		}
	}
}

// TestEchoesAreBounded sends inputs of 60 KB wherever an error message
// quotes what the client sent, and checks each message quotes a short
// prefix only.
func TestEchoesAreBounded(t *testing.T) {
	ts := newTestServer(t, testConfig(), Sleep)
	huge := strings.Repeat("9", 60<<10)
	tests := []struct {
		name, method, target, contentType, body, encoding string
	}{
		{name: "job id", method: "GET", target: "/work/" + huge},
		{name: "job id to cancel", method: "DELETE", target: "/work/" + huge},
		{name: "unknown path", method: "GET", target: "/" + huge},
		{name: "method", method: strings.Repeat("X", 60<<10), target: "/work"},
		{name: "delay", method: "POST", target: "/work?name=A&delay=" + huge},
		{name: "delay in JSON", method: "POST", contentType: submit.JSONType, body: `{"name":"A","delay":"` + huge + `"}`},
		{name: "JSON key", method: "POST", contentType: submit.JSONType, body: `{"` + huge + `":"A"}`},
		{name: "after the JSON object", method: "POST", contentType: submit.JSONType, body: `{"name":"A"}` + huge},
		{name: "content type", method: "POST", contentType: "text/" + huge, body: "x"},
		{name: "content encoding", method: "POST", contentType: form, body: "name=A", encoding: "x" + huge},
		{name: "non-canonical path", method: "GET", target: "//" + huge},
		{name: "multipart header line", method: "POST", contentType: "multipart/form-data; boundary=x", body: "--x\r\n" + huge[:50<<10] + "\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, cmp.Or(tt.target, "/work"), strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			rec := httptest.NewRecorder()
			ts.handler.ServeHTTP(rec, req)
			msg := decodeError(t, rec.Body.Bytes())
			if len(msg) > 400 || !strings.Contains(msg, "…") {
				t.Errorf("status %d, error of %d bytes, want a short prefix with …: %.500q", rec.Code, len(msg), msg)
			}
		})
	}
}
