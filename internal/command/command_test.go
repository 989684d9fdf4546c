package command

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"workqueue/internal/testutil"
)

// init makes this test binary, started by TestCommandDiesWithServer with
// WORKQUEUE_TEST_HELPER=pdeathsig, a stand-in for the server: it runs
// `sleep 30` through a Command, from a goroutine as a worker would, and waits.
// It is in init, not a test, so that TestMain's build of the binary is skipped.
func init() {
	if os.Getenv("WORKQUEUE_TEST_HELPER") != "pdeathsig" {
		return
	}
	c, err := New([]string{"sleep", "30"}, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	done := make(chan error)
	go func() {
		_, _, err := c.Run(context.Background(), Job{ID: os.Getenv("WORKQUEUE_TEST_JOB"), Attempt: 1})
		done <- err
	}()
	fmt.Fprintln(os.Stderr, <-done)
	os.Exit(1)
}

// jobProcesses returns the processes, zombies aside, whose environment holds
// WORKQUEUE_JOB_ID=id: every process a command of that job started and that
// has not exited, whether or not it stayed in the command's process group.
func jobProcesses(id string) []testutil.Process {
	want := []byte(envJobID + "=" + id)
	ents, _ := os.ReadDir("/proc")
	var ps []testutil.Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(append([]byte{0}, env...), append(append([]byte{0}, want...), 0)) {
			continue
		}
		if p, ok := testutil.ReadProc(pid); ok && p.State != "Z" && p.State != "X" {
			ps = append(ps, p)
		}
	}
	return ps
}

// requireGone fails t unless every process of job id has ended by deadline.
func requireGone(t *testing.T, id string, deadline time.Time) {
	t.Helper()
	var left []testutil.Process
	if !testutil.PollUntil(deadline, func() bool { left = jobProcesses(id); return len(left) == 0 }) {
		t.Errorf("processes of job %s still running: %+v, want none", id, left)
	}
}

// jobID returns a WORKQUEUE_JOB_ID unique to this test and process, by which
// jobProcesses finds the test's processes among everyone's.
func jobID(t *testing.T) string {
	return fmt.Sprintf("test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
}

// shCommand returns a Command that runs script with /bin/sh -c; $0 is "sh"
// and the arguments after it are args.
func shCommand(t *testing.T, script string, timeout time.Duration, args ...string) *Command {
	t.Helper()
	c, err := New(append([]string{"/bin/sh", "-c", script, "sh"}, args...), timeout)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// TestCommandJobReachesCommand checks that a job reaches its command through
// the environment and standard input only: names that look like options or
// shell code arrive unchanged, and never as arguments.
func TestCommandJobReachesCommand(t *testing.T) {
	t.Setenv(envName, "inherited") // replaced, not repeated
	t.Setenv("WORKQUEUE_TEST_KEPT", "server's own")
	const script = `printf 'argc=%s\n' "$#"
for a in "$@"; do printf 'arg=%s\n' "$a"; done
printf 'id=%s\nname=%s\nattempt=%s\nkept=%s\n' "$WORKQUEUE_JOB_ID" "$WORKQUEUE_NAME" "$WORKQUEUE_ATTEMPT" "$WORKQUEUE_TEST_KEPT"
printf 'names=%s\n' "$(env | grep -c '^WORKQUEUE_NAME=')"
IFS= read -r line; printf 'stdin=%s\n' "$line"
printf 'rest=%s\n' "$(cat)"`
	c := shCommand(t, script, 0, "fixed")
	for _, name := range []string{
		"Alice",
		"-n",
		"--output=/etc/passwd",
		"$(rm -rf /); echo",
		"`id`; ls | cat && false",
		`'single' "double" \back`,
		"  spaced  *  ",
		"Zoë 日本",
	} {
		t.Run(name, func(t *testing.T) {
			job := Job{ID: "17", Name: name, Attempt: 3}
			out, cut, err := c.Run(t.Context(), job)
			if err != nil || cut {
				t.Fatalf("Run = %v, truncated %v; want nil, false; output:\n%s", err, cut, out)
			}
			want := "argc=1\narg=fixed\nid=17\nname=" + name + "\nattempt=3\nkept=server's own\nnames=1\nstdin=" + name + "\nrest=\n"
			if string(out) != want {
				t.Errorf("output:\n%s\nwant:\n%s", out, want)
			}
		})
	}
}

// TestCommandOutcome checks the error of each way a command ends.
func TestCommandOutcome(t *testing.T) {
	for _, tt := range []struct {
		name, script, want string
	}{
		{"exit 0", "exit 0", ""},
		{"exit 3", "exit 3", "exit status 3"},
		{"SIGTERM", "kill -TERM $$", "killed by SIGTERM"},
		{"SIGKILL", "kill -KILL $$", "killed by SIGKILL"},
		{"SIGSEGV", "kill -SEGV $$", "killed by SIGSEGV"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := shCommand(t, tt.script, 0).Run(t.Context(), Job{ID: "1", Name: "x", Attempt: 1})
			if got := fmt.Sprint(err); (err == nil) != (tt.want == "") || err != nil && got != tt.want {
				t.Errorf("Run(%q) = %v, want %q", tt.script, err, tt.want)
			}
		})
	}
}

// TestCommandCannotStart checks the errors for a command that cannot run.
func TestCommandCannotStart(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	gone := filepath.Join(dir, "gone")
	for _, f := range []string{plain, gone} {
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		argv []string
		want string
	}{
		{"no command", nil, "no COMMAND after --"},
		{"not in PATH", []string{"workqueue-no-such-command"}, "cannot start: workqueue-no-such-command: executable file not found in $PATH"},
		{"no such file", []string{filepath.Join(dir, "missing")}, "cannot start: " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{"not executable", []string{plain}, "cannot start: " + plain + ": permission denied"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.argv, 0); fmt.Sprint(err) != tt.want {
				t.Errorf("New(%q) = %v, want %q", tt.argv, err, tt.want)
			}
		})
	}
	t.Run("removed after start", func(t *testing.T) {
		os.Chmod(gone, 0o755)
		c, err := New([]string{gone}, 0)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		os.Remove(gone)
		_, _, err = c.Run(t.Context(), Job{ID: "1", Name: "x", Attempt: 1})
		if want := "cannot start: " + gone + ": no such file or directory"; fmt.Sprint(err) != want {
			t.Errorf("Run = %v, want %q", err, want)
		}
	})
}

// TestCommandOutput checks that standard output and error are kept together,
// in order, and that only the last OutputLimit bytes are.
func TestCommandOutput(t *testing.T) {
	fill := func(n int, c string) string { return fmt.Sprintf(`head -c %d /dev/zero | tr '\0' %s;`, n, c) }
	for _, tt := range []struct {
		name, script, want string
		cut                bool
	}{
		{"interleaved", "echo out; echo err >&2; echo out2", "out\nerr\nout2\n", false},
		{"exactly 4 KiB", fill(4096, "a"), strings.Repeat("a", 4096), false},
		{"10 KiB", fill(6144, "a") + fill(4096, "b") + "exit 1", strings.Repeat("b", 4096), true},
		{"10 MiB on stderr", "{ " + fill(10<<20, "a") + fill(4095, "b") + "echo; } >&2", strings.Repeat("b", 4095) + "\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, cut, _ := shCommand(t, tt.script, 0).Run(t.Context(), Job{ID: "1", Name: "x", Attempt: 1})
			if string(out) != tt.want || cut != tt.cut {
				t.Errorf("output %d bytes %.20q..., truncated %v; want %d bytes %.20q..., %v", len(out), out, cut, len(tt.want), tt.want, tt.cut)
			}
		})
	}
}

// TestCommandTimeout checks that -job-timeout ends the command's whole
// process group: SIGTERM, then SIGKILL for what ignores SIGTERM. A script that
// traps SIGTERM says "ready" once it has; if the timeout came first (a busy
// machine), the row runs again with a longer timeout.
func TestCommandTimeout(t *testing.T) {
	for _, tt := range []struct {
		name, script string
		killDelay    time.Duration
		want         string // %v is the timeout
	}{
		{"obeys SIGTERM", "echo ready; sleep 30 & sleep 30", 5 * time.Second, "killed by SIGTERM after -job-timeout %v"},
		{"ignores SIGTERM", "trap '' TERM; echo ready; sleep 30 & sleep 30", 300 * time.Millisecond, "killed by SIGKILL after -job-timeout %v"},
		{"exits 0 on SIGTERM", "trap 'exit 0' TERM; echo ready; sleep 30 & wait", 5 * time.Second, "exit status 0 after -job-timeout %v"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, timeout := range []time.Duration{200 * time.Millisecond, time.Second, 5 * time.Second} {
				c := shCommand(t, tt.script, timeout)
				c.killWait = tt.killDelay
				id := jobID(t)
				start := time.Now()
				out, _, err := c.Run(t.Context(), Job{ID: id, Name: "x", Attempt: 1})
				requireGone(t, id, start.Add(timeout+5500*time.Millisecond))
				if !strings.HasPrefix(string(out), "ready\n") {
					continue // the timeout came before the trap
				}
				if want := fmt.Sprintf(tt.want, timeout); fmt.Sprint(err) != want {
					t.Errorf("Run = %v, want %q", err, want)
				}
				if te := new(TimeoutError); !errors.As(err, &te) {
					t.Errorf("Run = %T, want a *TimeoutError", err)
				}
				return
			}
			t.Errorf("the script never got to say ready before its timeout")
		})
	}
}

// TestCommandLeftovers checks that processes a command leaves in its group
// when it exits are killed, and that Run does not wait for them.
func TestCommandLeftovers(t *testing.T) {
	id := jobID(t)
	out, _, err := shCommand(t, "sleep 30 & echo started", 0).Run(t.Context(), Job{ID: id, Name: "x", Attempt: 1})
	if err != nil || string(out) != "started\n" {
		t.Errorf("Run = %q, %v; want %q, nil", out, err, "started\n")
	}
	requireGone(t, id, time.Now().Add(5*time.Second))
}

// TestCommandCancel checks that canceling the context ends the whole process
// group and that Run returns the context's cause.
func TestCommandCancel(t *testing.T) {
	for _, tt := range []struct{ name, script string }{
		{"obeys SIGTERM", "sleep 30 & sleep 30"},
		{"ignores SIGTERM", "trap '' TERM; sleep 30 & sleep 30"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := shCommand(t, tt.script, 0)
			c.killWait = 300 * time.Millisecond
			id := jobID(t)
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			done := make(chan error, 1)
			go func() {
				_, _, err := c.Run(ctx, Job{ID: id, Name: "x", Attempt: 1})
				done <- err
			}()
			var ps []testutil.Process
			if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool { ps = jobProcesses(id); return len(ps) == 3 }) {
				cancel(nil)
				t.Fatalf("job's processes: %+v, want sh and two sleeps", ps)
			}
			for _, p := range ps {
				if p.PGID == syscall.Getpgrp() || p.PGID != ps[0].PGID {
					t.Errorf("process groups: %+v, want one of their own", ps)
				}
			}
			canceled := errors.New("job canceled")
			cancel(canceled)
			if err := <-done; err != canceled {
				t.Errorf("Run = %v, want the cause %v", err, canceled)
			}
			requireGone(t, id, time.Now().Add(5500*time.Millisecond))
		})
	}
}

// TestCommandDiesWithServer checks that a command dies when the server that
// started it is killed with SIGKILL (Pdeathsig), using this test binary as
// the server (see init).
func TestCommandDiesWithServer(t *testing.T) {
	id := jobID(t)
	helper := exec.Command(os.Args[0])
	helper.Env = append(os.Environ(), "WORKQUEUE_TEST_HELPER=pdeathsig", "WORKQUEUE_TEST_JOB="+id)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer helper.Wait()
	defer helper.Process.Kill()
	var ps []testutil.Process
	if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool { ps = jobProcesses(id); return len(ps) == 1 }) {
		t.Fatalf("helper's command: %+v, want one sleep", ps)
	}
	if ps[0].PPID != helper.Process.Pid {
		t.Fatalf("command's parent = %d, want the helper %d", ps[0].PPID, helper.Process.Pid)
	}
	helper.Process.Kill()
	requireGone(t, id, time.Now().Add(5*time.Second))
}

// TestExampleChecksum runs scripts/examples/checksum.sh as a job would: it
// checksums the file the name names, even one named like an option, and
// refuses a name that leaves its directory.
func TestExampleChecksum(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CHECKSUM_DIR", dir)
	c, err := New([]string{"../../scripts/examples/checksum.sh"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, want, err string }{
		{"report.txt", fmt.Sprintf("%x  report.txt\n", sha256.Sum256([]byte("report.txt"))), ""},
		{"-c x", fmt.Sprintf("%x  -c x\n", sha256.Sum256([]byte("-c x"))), ""},
		{"../etc", "checksum.sh: ../etc: not a file name in " + dir + "\n", "exit status 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(filepath.Join(dir, tt.name), []byte(tt.name), 0o644)
			out, _, err := c.Run(t.Context(), Job{ID: "1", Name: tt.name, Attempt: 1})
			if string(out) != tt.want || fmt.Sprint(err) != cmp.Or(tt.err, "<nil>") {
				t.Errorf("Run = %q, %v; want %q, %s", out, err, tt.want, cmp.Or(tt.err, "<nil>"))
			}
			if sum, _ := os.ReadFile(filepath.Join(dir, tt.name+".sha256")); tt.err == "" && string(sum) != tt.want {
				t.Errorf("%s.sha256 holds %q, want %q", tt.name, sum, tt.want)
			}
		})
	}
}

// TestExampleFlaky runs scripts/examples/flaky.sh until it has both worked
// and failed, and checks what it says each time.
func TestExampleFlaky(t *testing.T) {
	c, err := New([]string{"../../scripts/examples/flaky.sh"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 1; i <= 100 && len(seen) < 2; i++ {
		out, _, err := c.Run(t.Context(), Job{ID: "7", Name: "Alice", Attempt: i})
		want := fmt.Sprintf("job 7, attempt %d: Hello, Alice!\n", i)
		if err != nil {
			want = fmt.Sprintf("job 7, attempt %d: failed (the coin said so)\n", i)
		}
		if string(out) != want || err != nil && err.Error() != "exit status 1" {
			t.Fatalf("attempt %d: Run = %q, %v; want %q and nil or exit status 1", i, out, err, want)
		}
		seen[fmt.Sprint(err)] = true
	}
	if len(seen) != 2 {
		t.Errorf("outcomes of 100 attempts: %v, want both nil and exit status 1", seen)
	}
}

// runOn4 runs f b.N times in all on 4 goroutines at once. Besides ns/op, the
// wall time, it reports the CPU time the test process spent per op (user and
// system), which a machine busy with other work disturbs less.
func runOn4(b *testing.B, f func() error) {
	before := testutil.CPUTime(b)
	defer func() { b.ReportMetric(float64(testutil.CPUTime(b)-before)/float64(b.N), "cpu-ns/op") }()
	var next sync.Mutex
	n := 0
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				next.Lock()
				if n == b.N {
					next.Unlock()
					return
				}
				n++
				next.Unlock()
				if err := f(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// BenchmarkCommandTrue runs `true` through Command.Run, 4 at once.
func BenchmarkCommandTrue(b *testing.B) {
	c, err := New([]string{"true"}, time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	job := Job{ID: "1", Name: "bench", Attempt: 1}
	runOn4(b, func() error { _, _, err := c.Run(context.Background(), job); return err })
}

// BenchmarkExecTrueBaseline runs `true` with exec.Command(...).Run(), 4 at
// once: what BenchmarkCommandTrue is measured against (issue 10: ≥ 0.9×).
func BenchmarkExecTrueBaseline(b *testing.B) {
	runOn4(b, func() error { return exec.Command("true").Run() })
}
