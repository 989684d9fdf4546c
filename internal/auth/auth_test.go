package auth

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const good = "0123456789abcdef0123" // 20 bytes

// TestParse checks what a token file may hold, and that no error quotes a token.
func TestParse(t *testing.T) {
	tests := []struct {
		name, data string
		valid      []string // tokens the file holds, if it parses
		wantErr    string
	}{
		{name: "one", data: good + "\n", valid: []string{good}},
		{name: "comments and blanks", data: "# the CI's token\n\n  " + good + "\t\r\n#" + good + "x\n" + good + "-two", valid: []string{good, good + "-two"}},
		{name: "empty", data: "", wantErr: "no token in it"},
		{name: "only comments", data: "# nothing\n\n", wantErr: "no token in it"},
		{name: "short", data: "# x\nshort-secret\n", wantErr: "line 2: a token of 12 bytes is too short: want at least 16"},
		{name: "space inside", data: "0123456789 abcdef0123\n", wantErr: "line 1: a token may hold only printable ASCII"},
		{name: "not ASCII", data: "0123456789abcdéf0123\n", wantErr: "line 1: a token may hold only printable ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Parse([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want %q", tt.data, err, tt.wantErr)
				}
				for line := range strings.SplitSeq(tt.data, "\n") {
					if line = strings.TrimSpace(line); len(line) > 3 && strings.Contains(err.Error(), line) {
						t.Errorf("Parse error %q quotes the file's line %q", err, line)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.data, err)
			}
			for _, v := range tt.valid {
				if !tok.Valid(v) {
					t.Errorf("Valid(%q) = false, want true", v)
				}
			}
			for _, v := range []string{"", good[:16], good + "x", strings.ToUpper(good), "#" + good + "x"} {
				if !slices.Contains(tt.valid, v) && tok.Valid(v) {
					t.Errorf("Valid(%q) = true, want false", v)
				}
			}
		})
	}
}

// TestLoadMode checks that a token file others may read or write is
// refused, as ssh refuses such a key, and one only its owner may read is not.
func TestLoadMode(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o600, 0o400, 0o640, 0o604, 0o660, 0o602} {
		p := filepath.Join(dir, mode.String())
		if err := os.WriteFile(p, []byte(good+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		_, err := Load(p)
		if want := mode&0o077 == 0; (err == nil) != want {
			t.Errorf("Load of a file of mode %#o: error %v, want an error: %v", mode, err, !want)
		} else if err != nil && !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("Load of a file of mode %#o: error %q, want it to say chmod 600", mode, err)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("Load of a missing file: no error")
	}
	if _, err := Load(dir); err == nil {
		t.Error("Load of a directory: no error")
	}
}

// TestHandler checks who passes the check: Bearer and Basic with a token,
// /healthz without; everyone else gets 401 with both challenges, the
// handler never reached, and refused called.
func TestHandler(t *testing.T) {
	tok, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	reached, refused := 0, 0
	h := Handler(tok, func(*http.Request) { refused++ }, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++ }))
	basic := func(user, pass string) string {
		r := httptest.NewRequest("GET", "/", nil)
		r.SetBasicAuth(user, pass)
		return r.Header.Get("Authorization")
	}
	tests := []struct {
		name, method, path, auth string
		pass                     bool
	}{
		{"bearer", "POST", "/work", "Bearer " + good, true},
		{"bearer lower case", "GET", "/metrics", "bearer " + good, true},
		{"basic", "GET", "/events", basic("anyone", good), true},
		{"basic without user", "GET", "/", basic("", good), true},
		{"healthz", "GET", "/healthz", "", true},
		{"healthz HEAD", "HEAD", "/healthz", "", true},
		{"healthz POST", "POST", "/healthz", "", false},
		{"none", "POST", "/work", "", false},
		{"wrong bearer", "DELETE", "/work/1", "Bearer " + good + "x", false},
		{"prefix", "GET", "/work", "Bearer " + good[:len(good)-1], false},
		{"basic user is not the token", "GET", "/work", basic(good, "x"), false},
		{"other scheme", "GET", "/work", "Token " + good, false},
		{"bare token", "GET", "/work", good, false},
	}
	for _, tt := range tests {
		reached, refused = 0, 0
		r := httptest.NewRequest(tt.method, tt.path, nil)
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if tt.pass {
			if reached != 1 || refused != 0 || w.Code != http.StatusOK {
				t.Errorf("%s: %s %s: status %d, reached %d, refused %d; want it passed", tt.name, tt.method, tt.path, w.Code, reached, refused)
			}
			continue
		}
		if reached != 0 || refused != 1 || w.Code != http.StatusUnauthorized {
			t.Errorf("%s: %s %s: status %d, reached %d, refused %d; want 401", tt.name, tt.method, tt.path, w.Code, reached, refused)
		}
		if got, want := w.Header().Values("WWW-Authenticate"), []string{`Bearer realm="workqueue"`, `Basic realm="workqueue"`}; !slices.Equal(got, want) {
			t.Errorf("%s: WWW-Authenticate = %q, want %q", tt.name, got, want)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type = %q, want application/json", tt.name, ct)
		}
		if strings.Contains(w.Body.String(), good[:16]) {
			t.Errorf("%s: the 401 echoes the token: %s", tt.name, w.Body)
		}
	}
	if Handler(nil, nil, http.NotFoundHandler()) == nil {
		t.Error("Handler(nil, ...) = nil, want the handler itself")
	}
}
