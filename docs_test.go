package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDocsText checks what README.md and docs/*.md say of themselves: the
// README is a front door of at most 260 lines; they speak in the project's
// own words, naming no SPEC.md; each relative link leads to a file of the
// repository (and, with #anchor, to one of its headings); every curl
// transcript is under a marker that says how it is checked.
func TestDocsText(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(readme), "\n"); n > 260 {
		t.Errorf("README.md has %d lines, want at most 260: the reference belongs in docs/", n)
	}
	linkRE := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, file := range docFiles(t) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if i := strings.Index(strings.ToLower(text), "spec.md"); i >= 0 {
			t.Errorf("%s:%d names SPEC.md: say it in the project's own words", file, 1+strings.Count(text[:i], "\n"))
		}
		for _, m := range linkRE.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			if path == "" {
				path = file
			} else {
				path = filepath.Join(filepath.Dir(file), path)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links to %s: %v", file, target, err)
				continue
			}
			if anchor != "" && strings.HasSuffix(path, ".md") && !slices.Contains(anchors(t, path), anchor) {
				t.Errorf("%s links to %s: %s has no heading with the anchor #%s", file, target, path, anchor)
			}
		}
		groups, unmarked := readDocGroups(t, file)
		for _, at := range unmarked {
			t.Errorf("%s: a curl transcript with no <!-- test: ... --> marker before it", at)
		}
		for _, g := range groups {
			if g.kind == "none" {
				t.Logf("%s: not run: %s", g.at, g.why)
			}
		}
	}
}

// anchors returns the anchors GitHub gives the headings of a Markdown file:
// lower case, spaces to hyphens, punctuation but - and _ dropped.
func anchors(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var list []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		heading := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var a strings.Builder
		for _, r := range strings.ToLower(heading) {
			switch {
			case r == ' ':
				a.WriteRune('-')
			case r == '-' || r == '_' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r > 127:
				a.WriteRune(r)
			}
		}
		list = append(list, a.String())
	}
	return list
}

// TestDocsSessions runs the transcripts of README.md and docs/*.md marked
// <!-- test: binary -->, each in a directory of its own, as a shell would:
//
//   - cat > FILE <<'EOF' ... EOF, chmod +x FILE and chmod 600 FILE (any
//     octal mode) write the file;
//   - make run ARGS='...' (checked against make -n, if make is here) and
//     workqueue ARGS or ./workqueue ARGS, with or without &, start the
//     binary with those flags in that directory, on a free port;
//   - curl sends its request to the server last started, and its answer is
//     checked as TestREADMETranscripts checks one;
//   - the log lines shown after a command are waited for (10 s at most)
//     before the next command runs, as a reader sees them first;
//   - ^C and kill -9 %1 send SIGINT and SIGKILL and wait for the server to
//     exit; kill %1 (or kill -TERM %1, kill -INT %1) sends SIGTERM (SIGINT)
//     and waits only for the log lines shown after it, so that the requests
//     after it reach a draining server, which is waited for at the next
//     wait %1; echo $?, the next start or the end of the session. A server
//     stopped by SIGINT or SIGTERM must exit 0, unless an echo $? (or
//     wait %1; echo $?) shows another status;
//   - ls -l DIR must show the files DIR holds.
//
// The greetings and log lines shown after a server starts must be in its
// output (see checkShown).
func TestDocsSessions(t *testing.T) {
	t.Parallel()
	n := 0
	for _, file := range docFiles(t) {
		groups, _ := readDocGroups(t, file)
		for _, g := range groups {
			if g.kind != "binary" {
				continue
			}
			n++
			t.Run(g.at, func(t *testing.T) {
				t.Parallel()
				runSession(t, g)
			})
		}
	}
	if n == 0 {
		t.Error("README.md and docs/ have no transcript under <!-- test: binary -->")
	}
}

// docProc is one server a session started, and what the docs show it write.
type docProc struct {
	*proc
	at       string
	shown    []string
	stopping string // where kill was sent to it, while it drains
}

var (
	makeRunRE = regexp.MustCompile(`^make run(?: ARGS='([^']*)')?$`)
	startRE   = regexp.MustCompile(`^(?:\./)?workqueue((?: [^&\s]+)*)(?: &)?$`)
	heredocRE = regexp.MustCompile(`^cat > (\S+) <<'EOF'$`)
	chmodRE   = regexp.MustCompile(`^chmod ([0-7]{3}) (\S+)$`)
	killRE    = regexp.MustCompile(`^kill(?: -(9|TERM|INT))? %1$`)
)

// runSession runs one binary group.
func runSession(t *testing.T, g docGroup) {
	dir := t.TempDir()
	client := &http.Client{
		Timeout:       2 * time.Minute,
		Transport:     &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, // as curl without -L
	}
	var procs []*docProc
	var cur *docProc // the server running, if any
	last := -1       // the exit status of the last server stopped
	expectZero := "" // where a server was stopped that must have exited 0, unless an echo $? shows otherwise
	// stop waits for the server to exit, after sig was sent to it at at.
	stop := func(at string, sig syscall.Signal) {
		last = cur.wait(t, time.Minute)
		if sig != syscall.SIGKILL {
			expectZero = at
		}
		cur = nil
	}
	settle := func() {
		if expectZero != "" && last != 0 {
			t.Errorf("%s: the server exited %d, want 0", expectZero, last)
		}
		expectZero = ""
	}
	for _, s := range g.steps {
		if !strings.HasPrefix(s.cmd, "echo $?") && !strings.HasPrefix(s.cmd, "wait") {
			settle()
		}
		shownBy := func(lines []string) {
			if cur != nil {
				cur.shown = append(cur.shown, lines...)
				waitLogged(t, s.at, cur.proc, lines) // as a reader sees them before the next command
			} else if len(procs) > 0 {
				p := procs[len(procs)-1]
				p.shown = append(p.shown, lines...)
			} else if slices.ContainsFunc(lines, func(l string) bool { return l != "" }) {
				t.Errorf("%s: lines shown before any server started: %q", s.at, lines)
			}
		}
		switch m := []string(nil); {
		case s.cmd == "":
			shownBy(s.out)
		case heredocRE.MatchString(s.cmd):
			name := heredocRE.FindStringSubmatch(s.cmd)[1]
			end := slices.Index(s.out, "EOF")
			if end < 0 {
				t.Fatalf("%s: %q has no EOF line", s.at, s.cmd)
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(s.out[:end], "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(s.cmd, "chmod +x "):
			if err := os.Chmod(filepath.Join(dir, strings.TrimPrefix(s.cmd, "chmod +x ")), 0o755); err != nil {
				t.Fatalf("%s: %v", s.at, err)
			}
		case chmodRE.MatchString(s.cmd):
			m := chmodRE.FindStringSubmatch(s.cmd)
			mode, _ := strconv.ParseUint(m[1], 8, 32)
			if err := os.Chmod(filepath.Join(dir, m[2]), os.FileMode(mode)); err != nil {
				t.Fatalf("%s: %v", s.at, err)
			}
		case makeRunRE.MatchString(s.cmd) || startRE.MatchString(s.cmd):
			if cur != nil && cur.stopping != "" {
				stop(cur.stopping, syscall.SIGTERM)
				settle()
			}
			if cur != nil {
				t.Fatalf("%s: %q while the server started at %s still runs", s.at, s.cmd, cur.at)
			}
			out := s.out
			var args []string
			if m = makeRunRE.FindStringSubmatch(s.cmd); m != nil {
				args = strings.Fields(m[1])
				out = checkMakeRun(t, s.at, m[1], out)
			} else {
				args = strings.Fields(startRE.FindStringSubmatch(s.cmd)[1])
			}
			cur = &docProc{proc: startIn(t, dir, args...), at: s.at}
			procs = append(procs, cur)
			cur.shown = append(cur.shown, out...)
		case strings.HasPrefix(s.cmd, "curl "):
			if cur == nil {
				t.Fatalf("%s: %q with no server running", s.at, s.cmd)
			}
			tr := readTranscript(t, s)
			req, err := http.NewRequest(tr.method, cur.url+tr.target, strings.NewReader(tr.requestBody()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tr.header.Clone()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s: %s: %v", s.at, tr.command, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("%s: %s: %v", s.at, tr.command, err)
			}
			tr.check(t, s.at, resp.StatusCode, resp.Header, body)
			shownBy(tr.shownAfter())
		case s.cmd == "^C" || killRE.MatchString(s.cmd):
			if cur == nil {
				t.Fatalf("%s: %q with no server running", s.at, s.cmd)
			}
			sig := syscall.SIGINT
			if s.cmd != "^C" {
				switch killRE.FindStringSubmatch(s.cmd)[1] {
				case "9":
					sig = syscall.SIGKILL
				case "", "TERM":
					sig = syscall.SIGTERM
				}
			}
			cur.signal(t, sig)
			shownBy(s.out)
			if s.cmd == "^C" || sig == syscall.SIGKILL {
				stop(s.at, sig)
			} else {
				cur.stopping = s.at // kill returns at once: the server drains while the session goes on
			}
		case s.cmd == "echo $?" || s.cmd == "wait %1; echo $?":
			if cur != nil && cur.stopping != "" {
				stop(cur.stopping, syscall.SIGTERM)
			}
			want := ""
			if i := slices.IndexFunc(s.out, func(l string) bool { return l != "" }); i >= 0 {
				want = s.out[i]
			}
			if got := strconv.Itoa(last); got != want {
				t.Errorf("%s: the server exited %s, the docs show %q", s.at, got, want)
			}
			expectZero = ""
		case strings.HasPrefix(s.cmd, "ls -l "):
			entries, err := os.ReadDir(filepath.Join(dir, strings.TrimPrefix(s.cmd, "ls -l ")))
			if err != nil {
				t.Fatalf("%s: %v", s.at, err)
			}
			var got, shown []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			for _, l := range s.out {
				if f := strings.Fields(l); len(f) > 0 && f[0] != "total" {
					shown = append(shown, f[len(f)-1])
				}
			}
			if !slices.Equal(got, shown) {
				t.Errorf("%s: %s shows %q; the directory holds %q", s.at, s.cmd, shown, got)
			}
		default:
			t.Fatalf("%s: cannot run %q", s.at, s.cmd)
		}
	}
	if cur != nil && cur.stopping != "" {
		stop(cur.stopping, syscall.SIGTERM)
	}
	settle()
	if cur != nil {
		cur.signal(t, syscall.SIGTERM)
		if code := cur.wait(t, time.Minute); code != 0 {
			t.Errorf("%s: the server started here exited %d on SIGTERM at the end of the session", cur.at, code)
		}
	}
	for _, p := range procs {
		checkShown(t, p.at, p.shown, p.stdout.String(), p.stderr.String())
	}
}

// waitLogged waits up to 10 s for p to log each log line of shown.
func waitLogged(t *testing.T, at string, p *proc, shown []string) {
	t.Helper()
	for _, l := range shown {
		want, ok := logfmt(l)
		if !ok {
			continue
		}
		deadline := time.Now().Add(10 * time.Second)
		for !slices.ContainsFunc(strings.Split(p.stderr.String(), "\n"), func(e string) bool {
			got, ok := logfmt(e)
			return ok && sameLog(got, want)
		}) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the server did not log %q within 10s:\n%s", at, l, p.stderr)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// startIn starts the binary with args in dir, on a free loopback port,
// and waits until it listens.
func startIn(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	p := spawnIn(t, dir, args...)
	p.url = waitListening(t, p.stderr, p.exited)
	return p
}

// checkMakeRun checks that the lines make shows at the head of out (the
// commands it runs) are what make -n run ARGS='args' prints here, and
// returns the lines after them. Without make, it only drops those lines.
func checkMakeRun(t *testing.T, at, args string, out []string) []string {
	t.Helper()
	n := 0
	for n < len(out) && (strings.HasPrefix(out[n], "go build ") || strings.HasPrefix(out[n], "./workqueue")) {
		n++
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Logf("%s: no make here (%v): the commands make run shows are not checked", at, err)
		return out[n:]
	}
	cmd := exec.Command("make", "--no-print-directory", "-n", "run", "ARGS="+args)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "MAKE") || strings.HasPrefix(kv, "MFLAGS=") || strings.HasPrefix(kv, "GO=")
	})
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: make -n run: %v", at, err)
	}
	if got, want := strings.Split(strings.TrimSpace(string(b)), "\n"), out[:n]; !slices.Equal(got, want) {
		t.Errorf("%s: make run ARGS='%s' runs %q; the docs show %q", at, args, got, want)
	}
	return out[n:]
}
