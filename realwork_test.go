package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"workqueue/internal/command"
	"workqueue/internal/config"
	"workqueue/internal/job"
	"workqueue/internal/submit"
	"workqueue/internal/testutil"
)

// markCommands sets, for the rest of t, an environment variable unique to t
// that the commands of the servers it starts inherit, and returns it as
// KEY=VALUE, for markedProcesses. Job ids alone are not unique: every test
// server numbers its jobs from 1.
func markCommands(t *testing.T) string {
	v := fmt.Sprintf("%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
	t.Setenv("WORKQUEUE_TEST_MARK", v)
	return "WORKQUEUE_TEST_MARK=" + v
}

// markedProcesses returns the processes, zombies aside, whose environment
// holds kv, leaving out the process except.
func markedProcesses(kv string, except int) []testutil.Process {
	want := append(append([]byte{0}, kv...), 0)
	ents, _ := os.ReadDir("/proc")
	var ps []testutil.Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == except {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(append([]byte{0}, env...), want) {
			continue
		}
		if p, ok := testutil.ReadProc(pid); ok && p.State != "Z" && p.State != "X" {
			ps = append(ps, p)
		}
	}
	return ps
}

// shCommand returns a Command that runs script with /bin/sh -c; $0 is "sh"
// and the arguments after it are args. (internal/command's tests have their
// own: a helper they shared through internal/testutil would import the
// package it tests.)
func shCommand(t *testing.T, script string, timeout time.Duration, args ...string) *command.Command {
	t.Helper()
	c, err := command.New(append([]string{"/bin/sh", "-c", script, "sh"}, args...), timeout)
	if err != nil {
		t.Fatalf("command.New: %v", err)
	}
	return c
}

// commandServer starts a test server whose jobs run /bin/sh -c script.
func commandServer(t *testing.T, cfg config.Config, script string) *testServer {
	t.Helper()
	c := shCommand(t, script, cfg.JobTimeout)
	cfg.Command = append([]string{c.Path}, c.Args...)
	return newTestServer(t, cfg, workFor(c))
}

// waitJob polls GET /work/{id} until cond holds of the job, and returns it.
// It is for jobs whose commands are real processes, whose timing no fake
// clock controls.
func (ts *testServer) waitJob(t *testing.T, id string, what string, cond func(job.View) bool) job.View {
	t.Helper()
	var j job.View
	if !testutil.PollUntil(time.Now().Add(20*time.Second), func() bool { j = ts.getJob(t, id); return cond(j) }) {
		t.Fatalf("job %s: %+v, still not %s 20s on", id, j, what)
	}
	return j
}

func final(j job.View) bool { return j.State == "done" || j.State == "failed" || j.State == "canceled" }

// TestCommandGetsJob checks, end to end through POST /work, that a command
// gets the job's id, name and attempt in its environment and the name on
// its standard input, with no argument; that names shaped like options or
// shell code reach it unchanged and are never run; that its output is kept
// with the job; that nothing goes to standard output; and that each
// finished job is logged.
func TestCommandGetsJob(t *testing.T) {
	dir := t.TempDir()
	const script = `IFS= read -r stdin
printf 'id=%s attempt=%s argc=%s\nname=%s\nstdin=%s\n' "$WORKQUEUE_JOB_ID" "$WORKQUEUE_ATTEMPT" "$#" "$WORKQUEUE_NAME" "$stdin"`
	ts := commandServer(t, testConfig(), script)
	names := []string{
		"Alice",
		"-n",
		"--output=/etc/passwd",
		"$(touch " + dir + "/pwned); `touch " + dir + "/pwned` | rm -rf ~ * ' \" \\ > " + dir + "/pwned",
		"Zoë 日本",
	}
	var ids []string
	for _, name := range names {
		rec := ts.do("POST", "/work", submit.FormType, url.Values{"name": {name}}.Encode())
		if rec.Code != http.StatusCreated {
			t.Fatalf("POST %q: status = %d, want 201; %s", name, rec.Code, rec.Body)
		}
		ids = append(ids, decodeJob(t, rec.Body.Bytes()).ID)
	}
	for i, id := range ids {
		j := ts.waitJob(t, id, "final", final)
		want := fmt.Sprintf("id=%s attempt=1 argc=0\nname=%s\nstdin=%s\n", id, names[i], names[i])
		if j.State != "done" || j.Output == nil || *j.Output != want || j.Truncated {
			t.Errorf("job %s: %+v, want done with output %q", id, j, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a name was run as shell code: %s/pwned exists (%v)", dir, err)
	}
	if err := ts.drain(t.Context()); err != nil { // every job's log line written
		t.Fatal(err)
	}
	if out := ts.out.String(); out != "" {
		t.Errorf("standard output %q, want nothing: a command job's outcome is its exit status", out)
	}
	for _, id := range ids {
		checkFinishedLogged(t, ts.logs.String(), id, "done", 1)
	}
}

// checkFinishedLogged checks logs hold exactly one line saying job id
// finished, at info level, in state after attempts, and how long it took.
func checkFinishedLogged(t *testing.T, logs, id, state string, attempts int) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^time=\S+ level=INFO msg="job finished" (?:worker=\d+ )?id=` + regexp.QuoteMeta(id) +
		` state=` + state + ` attempts=` + strconv.Itoa(attempts) + ` took=(\S+)$`)
	m := re.FindAllStringSubmatch(logs, -1)
	if len(m) != 1 {
		t.Errorf("job %s: %d lines logged saying it finished %s after %d attempts, want 1:\n%s", id, len(m), state, attempts, logs)
		return
	}
	if d, err := time.ParseDuration(m[0][1]); err != nil || d <= 0 {
		t.Errorf("job %s finished: took=%s, want a duration above 0", id, m[0][1])
	}
}

// TestCommandOutcomes checks how a command's end maps to the job's state and
// error, and that its output, the last 4 KiB of it, is kept either way.
func TestCommandOutcomes(t *testing.T) {
	gone := filepath.Join(t.TempDir(), "gone.sh")
	os.WriteFile(gone, []byte("#!/bin/sh\n"), 0o755)
	long := strings.Repeat("x", 5000)
	for _, tt := range []struct {
		name, script, state, err, output string
		truncated                        bool
		argv                             []string // instead of script
	}{
		{name: "exit 0", script: "echo fine", state: "done", output: "fine\n"},
		{name: "exit 3", script: "echo bad >&2; exit 3", state: "failed", err: "exit status 3", output: "bad\n"},
		{name: "signal", script: "echo dying; kill -KILL $$", state: "failed", err: "killed by SIGKILL", output: "dying\n"},
		{name: "long output", script: "printf '%s' start; printf '" + long + "'; exit 1", state: "failed", err: "exit status 1",
			output: long[len(long)-command.OutputLimit:], truncated: true},
		{name: "cannot start", argv: []string{gone}, state: "failed", err: "cannot start: " + gone + ": no such file or directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			var ts *testServer
			if tt.argv != nil {
				c, err := command.New(tt.argv, 0)
				if err != nil {
					t.Fatal(err)
				}
				os.Remove(gone) // found at start, gone by the job's turn
				cfg.Command = tt.argv
				ts = newTestServer(t, cfg, workFor(c))
			} else {
				ts = commandServer(t, cfg, tt.script)
			}
			id := ts.submitID(t, "job", "0s")
			j := ts.waitJob(t, id, "final", final)
			output := ""
			if j.Output != nil {
				output = *j.Output
			}
			if j.State != tt.state || j.Error != tt.err || output != tt.output || j.Truncated != tt.truncated || j.Attempts != 1 {
				t.Errorf("job: state %s, error %q, output %q (truncated %v), attempts %d; want %s, %q, %q (%v), 1",
					j.State, j.Error, output, j.Truncated, j.Attempts, tt.state, tt.err, tt.output, tt.truncated)
			}
			if err := ts.drain(t.Context()); err != nil { // its log line written
				t.Fatal(err)
			}
			if out := ts.out.String(); out != "" {
				t.Errorf("stdout %q; want nothing: a command job's outcome is its exit status", out)
			}
			if tt.state == "done" || tt.state == "failed" {
				checkFinishedLogged(t, ts.logs.String(), id, tt.state, 1)
			}
		})
	}
}

// TestCommandJobTimeout checks -job-timeout 200ms on a command that sleeps
// and has started a child that sleeps: the attempt fails as a timeout, and
// no process of the group is left within 5.5 s.
func TestCommandJobTimeout(t *testing.T) {
	mark := markCommands(t)
	cfg := testConfig()
	cfg.JobTimeout = 200 * time.Millisecond
	ts := commandServer(t, cfg, "sleep 30 & sleep 30")
	start := time.Now()
	id := ts.submitID(t, "slow", "0s")
	var ps []testutil.Process
	if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool { ps = markedProcesses(mark, 0); return len(ps) == 3 }) {
		t.Logf("the job's processes: %+v, want sh and two sleeps (they may have ended already)", ps)
	}
	j := ts.waitJob(t, id, "final", final)
	if j.State != "failed" || j.Error != "killed by SIGTERM after -job-timeout 200ms" {
		t.Errorf("job: %+v, want failed, killed by SIGTERM after -job-timeout 200ms", j)
	}
	if !testutil.PollUntil(start.Add(5500*time.Millisecond), func() bool { ps = markedProcesses(mark, 0); return len(ps) == 0 }) {
		t.Errorf("processes left 5.5 s on: %+v, want none", ps)
	}
	if m, _ := scrape(t, ts); m[`workqueue_job_attempts_total{outcome="timeout"}`] != 1 {
		t.Errorf("timeouts counted: %v, want 1", m[`workqueue_job_attempts_total{outcome="timeout"}`])
	}
}

// TestCommandDelete checks DELETE of a job whose command runs: its process
// group is gone, the job is canceled and not retried, and its worker takes
// the next job.
func TestCommandDelete(t *testing.T) {
	mark := markCommands(t)
	cfg := testConfig()
	cfg.Workers, cfg.Retries = 1, 3
	ts := commandServer(t, cfg, `IFS= read -r name; if [ "$name" = long ]; then sleep 30 & sleep 30; fi`)
	long := ts.submitID(t, "long", "0s")
	next := ts.submitID(t, "next", "0s")
	var ps []testutil.Process
	if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool { ps = markedProcesses(mark, 0); return len(ps) == 3 }) {
		t.Fatalf("the job's processes: %+v, want sh and two sleeps", ps)
	}
	start := time.Now()
	rec := ts.do("DELETE", "/work/"+long, "", "")
	if j := decodeJob(t, rec.Body.Bytes()); rec.Code != http.StatusOK || j.State != "canceled" {
		t.Fatalf("DELETE: %d %+v, want 200 canceled", rec.Code, j)
	}
	if !testutil.PollUntil(start.Add(5500*time.Millisecond), func() bool { ps = markedProcesses(mark, 0); return len(ps) == 0 }) {
		t.Errorf("processes left 5.5 s after the DELETE: %+v, want none", ps)
	}
	if j := ts.waitJob(t, next, "final", final); j.State != "done" || j.Worker != 1 {
		t.Errorf("next job: %+v, want done by worker 1", j)
	}
	if j := ts.getJob(t, long); j.State != "canceled" || j.Attempts != 1 || !j.RetryAt.IsZero() {
		t.Errorf("canceled job: %+v, want canceled after 1 attempt, no retry", j)
	}
}

// TestCommandThousandJobs runs 1,000 jobs of true through 4 workers: each is
// done exactly once, by the counters and by the log.
func TestCommandThousandJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 1,000 processes")
	}
	cfg := testConfig()
	cfg.Workers, cfg.Queue, cfg.LogLevel = 4, 1000, slog.LevelInfo
	c, err := command.New([]string{"true"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Command = []string{"true"}
	ts := newTestServer(t, cfg, workFor(c))
	const n = 1000
	for i := range n {
		ts.submitID(t, fmt.Sprintf("job%04d", i), "0s")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := ts.drain(ctx); err != nil {
		t.Fatalf("drain = %v, want every job run", err)
	}
	if out := ts.out.String(); out != "" {
		t.Errorf("standard output holds %d bytes, want none", len(out))
	}
	if got := strings.Count(ts.logs.String(), `msg="job finished"`); got != n {
		t.Errorf("%d jobs logged as finished, want %d", got, n)
	}
	if done, failed, attempts := ts.stats.Done.Load(), ts.stats.Failed.Load(), ts.attempts.Done.Load(); done != n || failed != 0 || attempts != n {
		t.Errorf("done %d, failed %d, attempts done %d; want %d, 0, %d", done, failed, attempts, n, n)
	}
}

// TestParseCommand checks the command line of real work: the words after the
// first -- are the command, its arguments included even when they look like
// workqueue's flags, and -retries and -job-timeout are bounded and need one.
func TestParseCommand(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		want    config.Config // the fields besides command
		argv    []string
		wantErr string
	}{
		{args: []string{"-retries", "3", "-job-timeout", "2s", "--", "/bin/sh", "-c", "x"},
			want: config.Config{Retries: 3, JobTimeout: 2 * time.Second}, argv: []string{"/bin/sh", "-c", "x"}},
		{args: []string{"-n", "2", "--", "true", "-n", "4", "--", "-retries"},
			want: config.Config{Workers: 2}, argv: []string{"true", "-n", "4", "--", "-retries"}},
		{args: []string{"-retries", "0", "-job-timeout", "0s"}, want: config.Config{}},
		{args: []string{"-retries", "100", "--", "true"}, want: config.Config{Retries: 100}, argv: []string{"true"}},
		{args: []string{"-retries", "101", "--", "true"}, wantErr: `invalid value "101" for flag -retries: must be at most 100`},
		{args: []string{"-retries", "-1", "--", "true"}, wantErr: `invalid value "-1" for flag -retries: must be at least 0`},
		{args: []string{"-job-timeout", "-1s", "--", "true"}, wantErr: `invalid value "-1s" for flag -job-timeout: must not be negative`},
		{args: []string{"-job-timeout", "25h", "--", "true"}, wantErr: `invalid value "25h" for flag -job-timeout: must be at most 24h0m0s`},
		{args: []string{"-job-timeout", "1s"}, wantErr: "-job-timeout applies to a command: give one after --"},
		{args: []string{"-retries", "2"}, wantErr: "-retries applies to a command: give one after --"},
		{args: []string{"--"}, wantErr: "-- must be followed by the COMMAND each job runs"},
		{args: []string{"-n", "--", "true"}, wantErr: "flag needs an argument: -n"},
		{args: []string{"true"}, wantErr: `unexpected argument "true": workqueue takes flags, then -- COMMAND [ARG...]`},
		{args: []string{"--", "no-such-command-for-workqueue"}, wantErr: "cannot start: no-such-command-for-workqueue: executable file not found in $PATH"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cfg, err := config.Parse(tt.args, new(strings.Builder))
			var c *command.Command
			if err == nil {
				c, err = newCommand(cfg)
			}
			if tt.wantErr != "" {
				var ue *config.UsageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("config.Parse, newCommand error = %v, want a usage error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("config.Parse, newCommand error = %v, want nil", err)
			}
			var argv []string
			if c != nil {
				argv = append([]string{c.Path}, c.Args...)
				if c.Timeout != cfg.JobTimeout {
					t.Errorf("command timeout %v, want -job-timeout %v", c.Timeout, cfg.JobTimeout)
				}
			}
			got := config.Config{Workers: cfg.Workers, Retries: cfg.Retries, JobTimeout: cfg.JobTimeout}
			tt.want.Workers = cmp.Or(tt.want.Workers, 4)
			if !reflect.DeepEqual(got, tt.want) || strings.Join(argv, "\x00") != strings.Join(tt.argv, "\x00") {
				t.Errorf("config.Parse = %+v, command %q; want %+v, %q", got, argv, tt.want, tt.argv)
			}
		})
	}
}

// BenchmarkServerCommandTrue runs b.N jobs of `true` through a whole server
// with 4 workers, from POST /work to the drain: against
// BenchmarkExecTrueBaseline, what the queue adds to starting a process
// (issue 10: at least 0.9× the baseline's jobs per second).
func BenchmarkServerCommandTrue(b *testing.B) {
	cfg := testConfig()
	cfg.Workers, cfg.Queue, cfg.LogLevel = 4, max(b.N, 1), slog.LevelError
	c, err := command.New([]string{"true"}, time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	s := newServer(cfg, commandWork(c), io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.start()
	before := testutil.CPUTime(b)
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest("POST", "/work?name=bench"+strconv.Itoa(i), nil)
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			b.Fatalf("POST: %d %s", rec.Code, rec.Body)
		}
	}
	if err := s.drain(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(testutil.CPUTime(b)-before)/float64(b.N), "cpu-ns/op")
	if done := s.stats.Done.Load(); done != int64(b.N) {
		b.Fatalf("done %d, want %d", done, b.N)
	}
}
