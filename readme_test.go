package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
)

// transcript is one curl command of the README and the answer it shows.
type transcript struct {
	command string
	method  string
	target  string // path and query
	header  http.Header
	form    url.Values
	status  int         // 0 if the README shows no status line (no -i)
	shown   http.Header // the response headers shown
	body    string
}

// readTranscripts returns the curl transcripts of README.md between the
// headings from and to.
func readTranscripts(t *testing.T, from, to string) []transcript {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start, end := strings.Index(text, from), strings.Index(text, to)
	if start < 0 || end < start {
		t.Fatalf("README.md has no section from %q to %q", from, to)
	}
	var all []transcript
	for _, block := range strings.Split(text[start:end], "\n    $ curl ")[1:] {
		lines := strings.Split(block, "\n")
		tr := parseCurl(t, lines[0])
		var out []string
		for _, l := range lines[1:] {
			if l != "" && !strings.HasPrefix(l, "    ") {
				break
			}
			out = append(out, strings.TrimPrefix(l, "    "))
		}
		tr.readAnswer(t, out)
		all = append(all, tr)
	}
	return all
}

// parseCurl parses the arguments of a README curl command: -i, -s, -X,
// -H 'Name: value', -d k=v and one URL, words split as a shell would with
// single quotes.
func parseCurl(t *testing.T, line string) transcript {
	t.Helper()
	tr := transcript{command: "curl " + line, method: "GET", header: http.Header{}, shown: http.Header{}}
	var words []string
	for i, part := range strings.Split(line, "'") {
		if i%2 == 1 {
			words = append(words, part)
		} else {
			words = append(words, strings.Fields(part)...)
		}
	}
	for i := 0; i < len(words); i++ {
		switch w := words[i]; {
		case w == "-i" || w == "-s":
		case w == "-X":
			i++
			tr.method = words[i]
		case w == "-H":
			i++
			name, value, _ := strings.Cut(words[i], ": ")
			tr.header.Add(name, value)
		case w == "-d":
			i++
			k, v, _ := strings.Cut(words[i], "=")
			if tr.form == nil {
				tr.form = url.Values{}
			}
			tr.form.Add(k, v)
			tr.method = "POST"
		case strings.HasPrefix(w, "http://127.0.0.1:8000/"):
			tr.target = strings.TrimPrefix(w, "http://127.0.0.1:8000")
		default:
			t.Fatalf("README command %q: cannot read %q", tr.command, w)
		}
	}
	return tr
}

// readAnswer takes the status line and headers (after -i) and the body from
// the lines a README command shows.
func (tr *transcript) readAnswer(t *testing.T, lines []string) {
	t.Helper()
	if len(lines) > 0 && strings.HasPrefix(lines[0], "HTTP/1.1 ") {
		code, _, _ := strings.Cut(strings.TrimPrefix(lines[0], "HTTP/1.1 "), " ")
		tr.status, _ = strconv.Atoi(code)
		for lines = lines[1:]; len(lines) > 0 && lines[0] != ""; lines = lines[1:] {
			name, value, _ := strings.Cut(lines[0], ": ")
			tr.shown.Add(name, value)
		}
	}
	for _, l := range lines {
		if l != "" {
			tr.body = l
			return
		}
	}
	t.Fatalf("README command %q shows no body", tr.command)
}

// TestREADMETranscripts runs the README's curl transcripts for
// Idempotency-Key, ?wait= and GET /work, in order, on a server with two
// workers in a synctest bubble (its fake clock makes the jobs' delays and
// the waits exact), and checks each answer has the shape the README shows:
// the status and headers shown, the same fields, the same error messages,
// ids, names, delays and states. Times and worker numbers may differ; a
// job shown queued may already be running.
func TestREADMETranscripts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers = 2
		ts := newTestServer(t, cfg, Sleep)
		trs := readTranscripts(t, "### Retrying safely: `Idempotency-Key`", "### Health and metrics")
		if len(trs) < 10 {
			t.Fatalf("found %d transcripts in README.md, want at least 10", len(trs))
		}
		for _, tr := range trs {
			var body *strings.Reader
			if tr.form != nil {
				body = strings.NewReader(tr.form.Encode())
			} else {
				body = strings.NewReader("")
			}
			req := httptest.NewRequest(tr.method, tr.target, body)
			req.Header = tr.header
			if tr.form != nil {
				req.Header.Set("Content-Type", form)
			}
			rec := httptest.NewRecorder()
			ts.handler.ServeHTTP(rec, req)
			synctest.Wait() // let the workers take what was queued
			if tr.status != 0 && rec.Code != tr.status {
				t.Errorf("%s: status = %d, README shows %d", tr.command, rec.Code, tr.status)
			}
			for name := range tr.shown {
				if got, want := rec.Header().Values(name), tr.shown.Values(name); !slices.Equal(got, want) {
					t.Errorf("%s: header %s = %q, README shows %q", tr.command, name, got, want)
				}
			}
			var got, want any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("%s: body %q: %v", tr.command, rec.Body, err)
			}
			if err := json.Unmarshal([]byte(tr.body), &want); err != nil {
				t.Fatalf("%s: README body %q: %v", tr.command, tr.body, err)
			}
			if err := sameShape(got, want); err != nil {
				t.Errorf("%s: %v\n got: %s\nREADME: %s", tr.command, err, strings.TrimSpace(rec.Body.String()), tr.body)
			}
		}
	})
}

// sameShape reports how got differs from want, a JSON value the README
// shows: objects must have the same fields and arrays the same length; of
// the values, times and worker numbers may differ, and a job the README
// shows queued may be running, with a worker, a start time and attempts.
func sameShape(got, want any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("got %v, want an object", got)
		}
		startedEarly := w["state"] == "queued" && g["state"] == "running"
		for k := range g {
			if _, ok := w[k]; !ok && !(startedEarly && (k == "worker" || k == "started_at" || k == "attempts")) {
				return fmt.Errorf("field %q is not in the README", k)
			}
		}
		for k, wv := range w {
			gv, ok := g[k]
			switch {
			case !ok:
				return fmt.Errorf("field %q is missing", k)
			case k == "worker" || strings.HasSuffix(k, "_at"):
			case k == "state" && startedEarly:
			default:
				if err := sameShape(gv, wv); err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("got %v, want %d values", got, len(w))
		}
		for i := range w {
			if err := sameShape(g[i], w[i]); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
	default:
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("got %v, want %v", got, want)
		}
	}
	return nil
}
