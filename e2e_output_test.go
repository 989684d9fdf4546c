package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"workqueue/internal/job"
	"workqueue/internal/testutil"
)

// startPiped starts the workqueue binary like startBinary, but with its
// standard output, or its standard error, or both, on a pipe whose read end
// it returns for the test to read, close or leave unread. A piped standard
// error is read up to the line saying where the server listens, then left
// to the test.
func startPiped(t *testing.T, pipeStdout, pipeStderr bool, args ...string) (p *proc, stdout, stderr *os.File) {
	t.Helper()
	p = &proc{stdout: new(testutil.SyncBuffer), stderr: new(testutil.SyncBuffer), exited: make(chan error, 1)}
	p.cmd = exec.Command(binary, append([]string{"-http", "127.0.0.1:0"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	var writeEnds []*os.File
	pipe := func(to *io.Writer) *os.File {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		*to = w
		writeEnds = append(writeEnds, w)
		return r
	}
	if pipeStdout {
		stdout = pipe(&p.cmd.Stdout)
	}
	if pipeStderr {
		stderr = pipe(&p.cmd.Stderr)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, w := range writeEnds {
		w.Close() // the child holds its own copy: it is now the only writer
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	if !pipeStderr {
		p.url = waitListening(t, p.stderr, p.exited)
		return p, stdout, stderr
	}
	stderr.SetReadDeadline(time.Now().Add(10 * time.Second))
	addrRE := regexp.MustCompile(`msg=listening addr=(\S+)`)
	for lines := bufio.NewReader(stderr); p.url == ""; {
		line, err := lines.ReadString('\n') // reads no further than the line
		if err != nil {
			t.Fatalf("reading the server's log for where it listens: %v", err)
		}
		if m := addrRE.FindStringSubmatch(line); m != nil {
			p.url = "http://" + m[1]
		}
	}
	return p, stdout, stderr
}

// quickClient is the client of the tests of stalled output: the server must
// answer each request within a second, however stuck its output is.
var quickClient = &http.Client{Timeout: time.Second}

// post submits a job through client and returns the status and the job's id.
func post(t *testing.T, client *http.Client, base, name, delay string) (int, string) {
	t.Helper()
	resp, err := client.PostForm(base+"/work", url.Values{"name": {name}, "delay": {delay}})
	if err != nil {
		t.Fatalf("POST /work: %v", err)
	}
	defer resp.Body.Close()
	var j job.View
	json.NewDecoder(resp.Body).Decode(&j)
	return resp.StatusCode, j.ID
}

// call sends a request through client and returns the status and body.
func call(t *testing.T, client *http.Client, method, target string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// checkAPIAnswers checks every endpoint answers within quickClient's second.
func checkAPIAnswers(t *testing.T, p *proc, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if code, body := call(t, quickClient, "GET", p.url+"/work/"+id); code != http.StatusOK {
			t.Errorf("GET /work/%s = %d %s, want 200", id, code, body)
		}
	}
	last := ids[len(ids)-1]
	if code, body := call(t, quickClient, "DELETE", p.url+"/work/"+last); code != http.StatusOK && code != http.StatusConflict {
		t.Errorf("DELETE /work/%s = %d %s, want 200 or 409", last, code, body)
	}
	if code, _ := call(t, quickClient, "GET", p.url+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", code)
	}
	if code, _ := call(t, quickClient, "GET", p.url+"/metrics"); code != http.StatusOK {
		t.Errorf("GET /metrics = %d, want 200", code)
	}
	if code, _ := post(t, quickClient, p.url, "late", "0s"); code != http.StatusCreated {
		t.Errorf("POST /work = %d, want 201", code)
	}
}

// TestBinaryStdoutClosed runs the binary as `workqueue | head -1`: after the
// reader exits, the server lives on; each job whose greeting cannot be
// written fails with the broken pipe, logged once; it drains and exits 0.
func TestBinaryStdoutClosed(t *testing.T) {
	t.Parallel()
	p, stdout, _ := startPiped(t, true, false, "-n", "2")
	post(t, quickClient, p.url, "first", "0s")
	stdout.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasSuffix(line, ": Hello, first!\n") {
		t.Fatalf("first line %q, %v; want the greeting of first", line, err)
	}
	stdout.Close() // head -1 exits
	var ids []string
	for i := range 20 {
		code, id := post(t, quickClient, p.url, fmt.Sprintf("after%d", i), "0s")
		if code != http.StatusCreated {
			t.Fatalf("POST after the reader left: status %d, want 201", code)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		j := waitFinal(t, p, id)
		if j.State != "failed" || !strings.Contains(j.Error, "broken pipe") {
			t.Errorf("job %s = %s %q, want failed with the broken pipe", id, j.State, j.Error)
		}
	}
	checkAPIAnswers(t, p, ids...)
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d, want 0: every job finished\nstderr:\n%s", code, p.stderr)
	}
	if n := strings.Count(p.stderr.String(), "cannot write to standard output"); n != 1 {
		t.Errorf("the broken pipe was logged %d times, want once:\n%s", n, p.stderr)
	}
}

// waitFinal polls GET /work/{id} until the job is final.
func waitFinal(t *testing.T, p *proc, id string) job.View {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := call(t, quickClient, "GET", p.url+"/work/"+id)
		var j job.View
		json.Unmarshal([]byte(body), &j)
		if j.State == "done" || j.State == "failed" || j.State == "canceled" {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s 10s on", id, j.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pipeFull reports whether the pipe whose read end is r has no room for a
// line of line bytes (Linux: FIONREAD against F_GETPIPE_SZ). A write of up
// to 4 KiB to a pipe is atomic: it waits for room for all of it.
func pipeFull(t *testing.T, r *os.File, line int) bool {
	t.Helper()
	conn, err := r.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var held, size int
	conn.Control(func(fd uintptr) {
		var n int32
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n))); e != 0 {
			t.Errorf("FIONREAD: %v", e)
		}
		held = int(n)
		s, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, 1032 /* F_GETPIPE_SZ */, 0)
		if e != 0 {
			t.Errorf("F_GETPIPE_SZ: %v", e)
		}
		size = int(s)
	})
	return size-held < line
}

// TestBinaryStdoutUnread runs the binary with a standard output nobody
// reads, filled with greetings of long names: the API still answers within
// a second, and SIGTERM with -shutdown-timeout 2s ends the process in about
// 2 s, exit 1, the jobs still waiting on the pipe abandoned.
func TestBinaryStdoutUnread(t *testing.T) {
	t.Parallel()
	p, stdout, _ := startPiped(t, true, false, "-n", "2", "-queue", "1000", "-shutdown-timeout", "2s")
	var ids []string
	name := func(i int) string { return fmt.Sprintf("%s%03d", strings.Repeat("x", 1000), i) }
	for i := range 150 { // 150 KB of greetings for a pipe of 64 KiB
		code, id := post(t, quickClient, p.url, name(i), "0s")
		if code != http.StatusCreated {
			t.Fatalf("POST %d: status %d, want 201", i, code)
		}
		ids = append(ids, id)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !pipeFull(t, stdout, len("worker1: Hello, "+name(0)+"!\n")) {
		if time.Now().After(deadline) {
			t.Fatal("standard output not full 10s after 150 KB of greetings")
		}
		time.Sleep(5 * time.Millisecond)
	}
	checkAPIAnswers(t, p, ids[0], ids[len(ids)-1])
	if code, body := call(t, quickClient, "DELETE", p.url+"/work/"+ids[len(ids)/2]); code != http.StatusOK && code != http.StatusConflict {
		t.Errorf("DELETE of a waiting job = %d %s, want 200 or 409", code, body)
	}
	start := time.Now()
	p.signal(t, syscall.SIGTERM)
	code := p.wait(t, 6*time.Second)
	t.Logf("exited %v after SIGTERM", time.Since(start))
	if code != 1 {
		t.Errorf("exit status %d, want 1: jobs were abandoned\nstderr:\n%s", code, p.stderr)
	}
	if want := `msg="drain abandoned"`; !strings.Contains(p.stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, p.stderr)
	}
}

// TestBinaryStderrUnread runs the binary with a standard error nobody reads
// past the listening line, logging every job: once the log is full and lines
// are dropped (and counted), the API still answers within a second, and
// SIGTERM with -shutdown-timeout 2s drains every accepted job and exits 0.
func TestBinaryStderrUnread(t *testing.T) {
	t.Parallel()
	p, _, _ := startPiped(t, false, true, "-n", "2", "-queue", "1000", "-shutdown-timeout", "2s", "-log-level", "debug")
	long := strings.Repeat("y", 1000)
	accepted := 0
	var last string
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; p.metric(t, "workqueue_log_lines_dropped_total") == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no log line dropped after %d jobs", accepted)
		}
		for range 100 {
			code, id := post(t, quickClient, p.url, long, "0s")
			if code == http.StatusCreated {
				accepted++
				last = id
			}
		}
	}
	checkAPIAnswers(t, p, last)
	accepted++ // checkAPIAnswers posts one more
	start := time.Now()
	p.signal(t, syscall.SIGTERM)
	code := p.wait(t, 6*time.Second)
	t.Logf("exited %v after SIGTERM, %d jobs", time.Since(start), accepted)
	if code != 0 {
		t.Errorf("exit status %d, want 0: every job could finish", code)
	}
	greeted := len(p.stdout.Lines())
	if last != "" && greeted < accepted-1 { // the last job's DELETE may have won
		t.Errorf("%d greetings, want %d, one per accepted job", greeted, accepted)
	}
}

// TestBinaryStderrClosed runs the binary with a standard error whose reader
// went away after the listening line: logging fails silently instead of
// killing the server by SIGPIPE, jobs run, and SIGTERM drains, exit 0.
func TestBinaryStderrClosed(t *testing.T) {
	t.Parallel()
	p, _, stderr := startPiped(t, false, true, "-n", "2", "-log-level", "debug")
	stderr.Close()
	var ids []string
	for i := range 20 {
		code, id := post(t, quickClient, p.url, fmt.Sprintf("quiet%d", i), "0s")
		if code != http.StatusCreated {
			t.Fatalf("POST quiet%d: status %d, want 201", i, code)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		if j := waitFinal(t, p, id); j.State != "done" {
			t.Errorf("job %s = %s %q, want done", id, j.State, j.Error)
		}
	}
	checkAPIAnswers(t, p, ids...)
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	if got := len(greetings(t, p.stdout)); got < len(ids) {
		t.Errorf("%d greetings, want at least %d", got, len(ids))
	}
}

// TestBinaryCommandStdout runs the binary with -- COMMAND and a standard
// output that is a closed pipe (workqueue -- true | true) or a pipe nobody
// reads, with and without -journal: a command job's outcome is its exit
// status alone, so every job ends done, none waits on the pipe, nothing is
// written to it, each finished job is logged, and SIGTERM drains at once,
// exit 0. Names of 1,000 bytes would fill the unread pipe many times over
// with greetings.
func TestBinaryCommandStdout(t *testing.T) {
	t.Parallel()
	for _, closed := range []bool{true, false} {
		for _, journaled := range []bool{false, true} {
			name := map[bool]string{true: "closed", false: "unread"}[closed] + map[bool]string{true: ",journal", false: ""}[journaled]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				args := []string{"-n", "2", "-queue", "1000", "-shutdown-timeout", "5s"}
				if journaled {
					args = append(args, "-journal", t.TempDir())
				}
				p, stdout, _ := startPiped(t, true, false, append(args, "--", "true")...)
				jobs := 150
				if closed {
					stdout.Close()
					jobs = 20
				}
				var ids []string
				for i := range jobs {
					code, id := post(t, quickClient, p.url, fmt.Sprintf("%s%03d", strings.Repeat("x", 1000), i), "0s")
					if code != http.StatusCreated {
						t.Fatalf("POST %d: status %d, want 201", i, code)
					}
					ids = append(ids, id)
				}
				for _, id := range ids {
					if j := waitFinal(t, p, id); j.State != "done" || j.Attempts != 1 {
						t.Errorf("job %s = %s %q after %d attempts, want done after 1", id, j.State, j.Error, j.Attempts)
					}
				}
				checkAPIAnswers(t, p, ids[len(ids)-1])
				start := time.Now()
				p.signal(t, syscall.SIGTERM)
				if code := p.wait(t, 10*time.Second); code != 0 {
					t.Fatalf("exit status %d, want 0: every job finished\nstderr:\n%s", code, p.stderr)
				}
				if took := time.Since(start); took > 3*time.Second {
					t.Errorf("drain took %v: something waited on standard output", took)
				}
				if !closed {
					stdout.SetReadDeadline(time.Now().Add(5 * time.Second))
					if out, err := io.ReadAll(stdout); len(out) != 0 || err != nil {
						t.Errorf("standard output held %d bytes (%v), want none with -- COMMAND", len(out), err)
					}
				}
				logs := p.stderr.String()
				if strings.Contains(logs, "cannot write to standard output") {
					t.Errorf("the server wrote to standard output:\n%s", logs)
				}
				for _, id := range ids {
					checkFinishedLogged(t, logs, id, "done", 1)
				}
			})
		}
	}
}
