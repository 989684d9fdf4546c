package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"

	"workqueue/internal/config"
)

// The examples of README.md and docs/*.md are transcripts: indented code
// blocks whose commands start with "$ " and whose answers follow them. A
// marker, an HTML comment a reader never sees, says before a transcript how
// it is checked, until the next marker or <!-- test: end -->:
//
//	<!-- test: server FLAGS -->  in process: a server with FLAGS, its work the
//	                             delay and the greeting, in a synctest bubble
//	                             (TestREADMETranscripts)
//	<!-- test: binary -->        the real binary, in a directory of its own,
//	                             started and stopped as the transcript shows
//	                             (TestDocsSessions)
//	<!-- test: none, WHY -->     shown, not run, for the reason given
//
// Every "$ curl" of those files must be under a marker (TestDocsText).

// docFiles returns README.md and the Markdown files of docs/.
func docFiles(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("docs/ has no Markdown file")
	}
	return append([]string{"README.md"}, docs...)
}

// docStep is one command of a transcript and the lines shown after it.
type docStep struct {
	at  string   // file:line of the command
	cmd string   // what follows "$ "; "^C" for an interrupt; "" for lines shown before any command of their block
	out []string // the lines shown after it, up to the next command or the end of the block, indent removed
}

// docGroup is the transcripts under one marker.
type docGroup struct {
	at    string   // file:line of the marker
	kind  string   // "server", "binary" or "none"
	args  []string // server: the flags
	why   string   // none: why it is not run
	steps []docStep
}

var markerRE = regexp.MustCompile(`^<!-- test: (server|binary|none|end)\b,? ?(.*?) ?-->$`)

// readDocGroups returns the transcripts of file under their markers, and
// the places of any "$ curl" under none.
func readDocGroups(t *testing.T, file string) (groups []docGroup, unmarked []string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var g *docGroup
	var step *docStep // the step a code line continues; nil outside a code block
	for i, line := range strings.Split(string(b), "\n") {
		at := fmt.Sprintf("%s:%d", file, i+1)
		if m := markerRE.FindStringSubmatch(line); m != nil {
			g, step = nil, nil
			if m[1] == "end" {
				continue
			}
			groups = append(groups, docGroup{at: at, kind: m[1]})
			g = &groups[len(groups)-1]
			switch m[1] {
			case "server":
				g.args = strings.Fields(m[2])
			case "none":
				if g.why = m[2]; g.why == "" {
					t.Errorf("%s: a marker <!-- test: none, WHY --> must say why", at)
				}
			}
			continue
		}
		code, isCode := strings.CutPrefix(line, "    ")
		switch {
		case !isCode && line != "":
			step = nil
		case line == "":
			if step != nil {
				step.out = append(step.out, "")
			}
		case g == nil:
			if strings.HasPrefix(code, "$ curl ") {
				unmarked = append(unmarked, at)
			}
		case strings.HasPrefix(code, "$ ") || code == "^C":
			g.steps = append(g.steps, docStep{at: at, cmd: strings.TrimPrefix(code, "$ ")})
			step = &g.steps[len(g.steps)-1]
		case step == nil:
			g.steps = append(g.steps, docStep{at: at, out: []string{code}})
			step = &g.steps[len(g.steps)-1]
		default:
			step.out = append(step.out, code)
		}
	}
	return groups, unmarked
}

// transcript is one curl command of the docs and the answer it shows.
type transcript struct {
	command string
	method  string
	target  string // path and query
	header  http.Header
	data    []string // the -d arguments, sent as curl sends them: joined by &
	pipe    string   // a grep the answer goes through: then the answer is lines of text
	status  int      // 0 if the docs show no status line (no -i)
	shown   http.Header
	body    string   // the first line of the answer's body
	lines   []string // every line of the body shown (with pipe), or the lines shown after the body
}

// readTranscript parses a curl step and the answer it shows.
func readTranscript(t *testing.T, s docStep) transcript {
	t.Helper()
	line, pipe, _ := strings.Cut(strings.TrimPrefix(s.cmd, "curl "), " | ")
	tr := parseCurl(t, s.at, line)
	tr.pipe = pipe
	tr.readAnswer(t, s.at, s.out)
	return tr
}

// parseCurl parses the arguments of a curl command of the docs: -i, -s,
// -N, -X, -H 'Name: value', -d DATA and one URL on 127.0.0.1:8000, words
// split as a shell would with single quotes.
func parseCurl(t *testing.T, at, line string) transcript {
	t.Helper()
	tr := transcript{command: "curl " + line, header: http.Header{}, shown: http.Header{}}
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
		case w == "-i" || w == "-s" || w == "-N":
		case w == "-X" && i+1 < len(words):
			i++
			tr.method = words[i]
		case w == "-H" && i+1 < len(words):
			i++
			name, value, _ := strings.Cut(words[i], ": ")
			tr.header.Add(name, value)
		case w == "-d" && i+1 < len(words):
			i++
			tr.data = append(tr.data, words[i])
		case strings.HasPrefix(w, "http://127.0.0.1:8000/"):
			tr.target = strings.TrimPrefix(w, "http://127.0.0.1:8000")
		default:
			t.Fatalf("%s: %q: cannot read %q", at, tr.command, w)
		}
	}
	if tr.target == "" {
		t.Fatalf("%s: %q has no URL on http://127.0.0.1:8000/", at, tr.command)
	}
	switch {
	case tr.method != "":
	case tr.data != nil:
		tr.method = "POST"
	default:
		tr.method = "GET"
	}
	if tr.data != nil && tr.header.Get("Content-Type") == "" {
		tr.header.Set("Content-Type", "application/x-www-form-urlencoded") // as curl -d does
	}
	return tr
}

// readAnswer takes the status line and headers (after -i) and the body from
// the lines a command shows.
func (tr *transcript) readAnswer(t *testing.T, at string, lines []string) {
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
		switch {
		case l == "":
		case tr.body == "":
			tr.body = l
			if tr.pipe != "" {
				tr.lines = append(tr.lines, l)
			}
		default:
			tr.lines = append(tr.lines, l)
		}
	}
	if tr.body == "" {
		t.Fatalf("%s: %q shows no body", at, tr.command)
	}
}

// body returns the request body, as curl sends it.
func (tr *transcript) requestBody() string { return strings.Join(tr.data, "&") }

// shownAfter returns the lines shown after the answer (a greeting, a log
// line), to check against the server's output.
func (tr *transcript) shownAfter() []string {
	if tr.pipe != "" {
		return nil
	}
	return tr.lines
}

// check reports how an answer differs from what the transcript shows: the
// status and headers shown, and a body of the same shape (see sameShape).
// A body that ends ",...}" shows some fields of the object, not all. An
// answer piped through grep is lines of text: each line shown, but "...",
// must name a series (the text before its first space) the answer has.
func (tr *transcript) check(t *testing.T, at string, code int, header http.Header, body []byte) {
	t.Helper()
	if tr.status != 0 && code != tr.status {
		t.Errorf("%s: %s: status = %d, the docs show %d", at, tr.command, code, tr.status)
	}
	for name := range tr.shown {
		if got, want := header.Values(name), tr.shown.Values(name); !slices.Equal(got, want) {
			t.Errorf("%s: %s: header %s = %q, the docs show %q", at, tr.command, name, got, want)
		}
	}
	if tr.pipe != "" {
		for _, l := range tr.lines {
			series, _, _ := strings.Cut(l, " ")
			if l != "..." && !slices.ContainsFunc(strings.Split(string(body), "\n"), func(g string) bool {
				return strings.HasPrefix(g, series+" ")
			}) {
				t.Errorf("%s: %s: the answer has no %s, which the docs show", at, tr.command, series)
			}
		}
		return
	}
	shown, partial := strings.CutSuffix(tr.body, ",...}")
	if partial {
		shown += "}"
	}
	var got, want any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%s: %s: body %q: %v", at, tr.command, body, err)
	}
	if err := json.Unmarshal([]byte(shown), &want); err != nil {
		t.Fatalf("%s: %s: the docs' body %q: %v", at, tr.command, tr.body, err)
	}
	if err := sameShape(got, want, partial); err != nil {
		t.Errorf("%s: %s: %v\n got: %s\ndocs: %s", at, tr.command, err, strings.TrimSpace(string(body)), tr.body)
	}
}

// TestREADMETranscripts runs the transcripts of README.md and docs/*.md
// marked <!-- test: server FLAGS -->, each group in order, on a server of
// its own with those flags (its work the delay and the greeting) in a
// synctest bubble: its fake clock makes the jobs' delays and the waits
// exact. It checks each answer has the shape the docs show: the status and
// headers shown, the same fields, the same error messages, ids, names,
// delays and states. Times and worker numbers may differ; a job shown
// queued may already be running. Greetings and log lines shown must be in
// the server's output. docs/api.md's transcripts of Idempotency-Key, ?wait=
// and GET /work, which this test has checked since they were in the README,
// must stay in it.
func TestREADMETranscripts(t *testing.T) {
	ran := map[string]int{} // transcripts run, by file
	for _, file := range docFiles(t) {
		groups, _ := readDocGroups(t, file)
		for _, g := range groups {
			if g.kind != "server" {
				continue
			}
			for _, s := range g.steps {
				if strings.HasPrefix(s.cmd, "curl ") {
					ran[file]++
				}
			}
			t.Run(g.at, func(t *testing.T) { runServerGroup(t, g) })
		}
	}
	if n := countChecked(t, "docs/api.md", "## Retrying safely: `Idempotency-Key`", "## `GET /healthz`"); n < 10 {
		t.Errorf("docs/api.md has %d transcripts under <!-- test: server --> from Idempotency-Key to GET /healthz, want at least 10", n)
	}
	for _, file := range []string{"README.md", "docs/api.md"} {
		if ran[file] == 0 {
			t.Errorf("%s has no transcript under <!-- test: server -->", file)
		}
	}
}

// runServerGroup runs one server group.
func runServerGroup(t *testing.T, g docGroup) {
	synctest.Test(t, func(t *testing.T) {
		cfg, err := config.Parse(g.args, io.Discard)
		if err != nil {
			t.Fatalf("%s: flags %q: %v", g.at, g.args, err)
		}
		cfg.Addr = "127.0.0.1:0"
		ts := newTestServer(t, cfg, Sleep)
		var shown []string
		for _, s := range g.steps {
			if s.cmd == "" {
				shown = append(shown, s.out...)
				continue
			}
			if !strings.HasPrefix(s.cmd, "curl ") {
				t.Fatalf("%s: %q: a server group runs curl only", s.at, s.cmd)
			}
			tr := readTranscript(t, s)
			req := httptest.NewRequest(tr.method, tr.target, strings.NewReader(tr.requestBody()))
			req.Header = tr.header.Clone()
			rec := httptest.NewRecorder()
			ts.handler.ServeHTTP(rec, req)
			synctest.Wait() // let the workers take what was queued
			tr.check(t, s.at, rec.Code, rec.Header(), rec.Body.Bytes())
			shown = append(shown, tr.shownAfter()...)
		}
		synctest.Wait()
		checkShown(t, g.at, shown, ts.out.String(), ts.logs.String())
	})
}

// countChecked counts the curls of file between the headings from and to
// that are under <!-- test: server --> or <!-- test: binary -->.
func countChecked(t *testing.T, file, from, to string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	first, last := slices.Index(lines, from), slices.Index(lines, to)
	if first < 0 || last < first {
		t.Fatalf("%s has no section from %q to %q", file, from, to)
	}
	groups, _ := readDocGroups(t, file)
	n := 0
	for _, g := range groups {
		for _, s := range g.steps {
			var line int
			fmt.Sscanf(s.at[strings.LastIndexByte(s.at, ':')+1:], "%d", &line)
			if g.kind != "none" && strings.HasPrefix(s.cmd, "curl ") && line > first && line <= last {
				n++
			}
		}
	}
	return n
}

var greetingRE = regexp.MustCompile(`^worker\d+: Hello, (.*)!$`)

// checkShown checks lines the docs show a server writing: a greeting must
// be on its standard output (the worker's number may differ); a log line
// must match one of its log (see sameLog); a line "workqueue: ..." must be
// a line of its standard error. "..." stands for lines left out.
func checkShown(t *testing.T, at string, shown []string, stdout, stderr string) {
	t.Helper()
	outLines, errLines := strings.Split(stdout, "\n"), strings.Split(stderr, "\n")
	for _, l := range shown {
		switch m := greetingRE.FindStringSubmatch(l); {
		case l == "" || l == "...":
		case m != nil:
			if !slices.ContainsFunc(outLines, func(o string) bool {
				g := greetingRE.FindStringSubmatch(o)
				return g != nil && g[1] == m[1]
			}) {
				t.Errorf("%s: the docs show %q; the server's standard output has no greeting of %q:\n%s", at, l, m[1], stdout)
			}
		case strings.HasPrefix(l, "workqueue: "):
			if !slices.Contains(errLines, l) {
				t.Errorf("%s: the docs show %q; the server's standard error has no such line:\n%s", at, l, stderr)
			}
		default:
			want, ok := logfmt(l)
			if !ok {
				t.Errorf("%s: cannot check the line %q: not a greeting, a log line or a workqueue: line", at, l)
				continue
			}
			if !slices.ContainsFunc(errLines, func(e string) bool {
				got, ok := logfmt(e)
				return ok && sameLog(got, want)
			}) {
				t.Errorf("%s: the docs show the log line %q; the server logged no such line:\n%s", at, l, stderr)
			}
		}
	}
}

// logfmt parses a log/slog text line into its keys and values, and reports
// whether it is one: it has a level and a msg.
func logfmt(line string) (map[string]string, bool) {
	kv := map[string]string{}
	for s := strings.TrimSpace(line); s != ""; s = strings.TrimLeft(s, " ") {
		k, rest, ok := strings.Cut(s, "=")
		if !ok || k == "" || strings.ContainsAny(k, ` "`) {
			return nil, false
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, false
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		kv[k] = v
		s = rest
	}
	_, hasLevel := kv["level"]
	_, hasMsg := kv["msg"]
	return kv, hasLevel && hasMsg
}

// sameLog reports whether a logged line got matches one the docs show: the
// same keys (time aside) and the same values, but for the time, how long it
// took, the address (the tests listen on a free port), the worker and the
// time of a retry, when a drain starts, how many jobs are queued and
// running at that moment, and the journal's bytes at a replay (each group
// commit adds a batch header, and how records share commits is timing).
func sameLog(got, want map[string]string) bool {
	for k := range got {
		if _, ok := want[k]; !ok && k != "time" {
			return false
		}
	}
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			return false
		case k == "time" || k == "took" || k == "addr" || k == "worker" || k == "retry_at":
		case want["msg"] == "draining" && (k == "queued" || k == "running"):
		case want["msg"] == "journal replayed" && k == "bytes":
		case g != w:
			return false
		}
	}
	return true
}

// sameShape reports how got differs from want, a JSON value the docs show:
// objects must have the same fields (if partial, a top-level object may
// have more) and arrays the same length; of the values, times and worker
// numbers, and lease tokens, may differ, and a job the docs show queued may be running, with
// a worker, a start time and attempts.
func sameShape(got, want any, partial bool) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("got %v, want an object", got)
		}
		startedEarly := w["state"] == "queued" && g["state"] == "running"
		for k := range g {
			if _, ok := w[k]; !ok && !partial && !(startedEarly && (k == "worker" || k == "started_at" || k == "attempts")) {
				return fmt.Errorf("field %q is not in the docs", k)
			}
		}
		for k, wv := range w {
			gv, ok := g[k]
			switch {
			case !ok:
				return fmt.Errorf("field %q is missing", k)
			case k == "worker" || k == "lease" || strings.HasSuffix(k, "_at"): // a lease token is random
			case k == "state" && startedEarly:
			default:
				if err := sameShape(gv, wv, false); err != nil {
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
			if err := sameShape(g[i], w[i], false); err != nil {
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
