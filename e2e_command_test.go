package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/testutil"
)

// postJob posts a job with the given name to the binary and returns its id.
func (p *proc) postJob(t *testing.T, name string) string {
	t.Helper()
	resp, err := http.PostForm(p.url+"/work", url.Values{"name": {name}})
	if err != nil {
		t.Fatalf("POST %q: %v", name, err)
	}
	defer resp.Body.Close()
	var j job.View
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %q: %d, %v; want 201 and a job", name, resp.StatusCode, err)
	}
	return j.ID
}

// TestBinaryCommandRetried runs the binary with -retries 1 -- /bin/sh -c
// SCRIPT, a command that fails its first attempt: a job named like an option
// reaches it unchanged, is retried once and ends done after 2 attempts, with
// the output of the second.
func TestBinaryCommandRetried(t *testing.T) {
	t.Parallel()
	const script = `IFS= read -r name
[ "$WORKQUEUE_ATTEMPT" -ge 2 ] || { echo "attempt $WORKQUEUE_ATTEMPT failed"; exit 1; }
printf 'attempt %s: %s|%s|%s\n' "$WORKQUEUE_ATTEMPT" "$name" "$WORKQUEUE_NAME" "$#"`
	p := startBinary(t, "-retries", "1", "--", "/bin/sh", "-c", script)
	id := p.postJob(t, "--output=/etc/passwd")
	j := waitFinal(t, p, id)
	want := "attempt 2: --output=/etc/passwd|--output=/etc/passwd|0\n"
	if j.State != "done" || j.Attempts != 2 || j.Output == nil || *j.Output != want {
		t.Errorf("job: %+v, want done after 2 attempts with output %q", j, want)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("drain exited %d, want 0\nstderr:\n%s", code, p.stderr)
	}
	if out := p.stdout.String(); out != "" {
		t.Errorf("standard output %q, want nothing with -- COMMAND", out)
	}
	checkFinishedLogged(t, p.stderr.String(), id, "done", 2)
}

// TestBinaryKilledCommandsDie kills the server with SIGKILL while its
// commands run, and checks the commands die with it (Pdeathsig): no orphan
// is left in /proc.
func TestBinaryKilledCommandsDie(t *testing.T) {
	mark := markCommands(t)
	p := startBinary(t, "-n", "2", "--", "sleep", "30")
	server := p.cmd.Process.Pid
	p.postJob(t, "a")
	p.postJob(t, "b")
	var ps []testutil.Process
	if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool { ps = markedProcesses(mark, server); return len(ps) == 2 }) {
		t.Fatalf("the server's commands: %+v, want two sleeps", ps)
	}
	for _, c := range ps {
		if c.PPID != server {
			t.Fatalf("command %+v: parent %d, want the server %d", c, c.PPID, server)
		}
	}
	p.signal(t, syscall.SIGKILL)
	if !testutil.PollUntil(time.Now().Add(5*time.Second), func() bool { ps = markedProcesses(mark, server); return len(ps) == 0 }) {
		t.Errorf("commands left 5 s after the server was killed: %+v, want none", ps)
	}
}

// TestBinaryJournalCommandKill9 kills the server with -journal while a
// command runs: the command dies with it, and after the restart the job
// runs again and ends done with attempts 2, its command told so.
func TestBinaryJournalCommandKill9(t *testing.T) {
	mark := markCommands(t)
	dir := t.TempDir()
	const script = `[ "$WORKQUEUE_ATTEMPT" = 1 ] && exec sleep 30; echo "attempt $WORKQUEUE_ATTEMPT"`
	args := []string{"-journal", dir, "-n", "1", "--", "/bin/sh", "-c", script}
	p := startBinary(t, args...)
	id := p.postJob(t, "crash")
	server := p.cmd.Process.Pid
	var ps []testutil.Process
	if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool { ps = markedProcesses(mark, server); return len(ps) == 1 }) {
		t.Fatalf("the job's command: %+v, want one sleep", ps)
	}
	p.kill9(t)
	if !testutil.PollUntil(time.Now().Add(5*time.Second), func() bool { ps = markedProcesses(mark, server); return len(ps) == 0 }) {
		t.Errorf("command left 5 s after the server was killed: %+v, want none", ps)
	}
	p = startBinary(t, args...)
	j := waitFinal(t, p, id)
	if j.State != "done" || j.Attempts != 2 || j.Output == nil || *j.Output != "attempt 2\n" {
		t.Errorf("after the restart: %+v, want done after 2 attempts with output %q", j, "attempt 2\n")
	}
}

// TestBinaryJournalKeepsRetries drains a server with -journal while a job
// waits out its backoff: the job stays in the journal, the drain says so and
// exits 0, and the next start runs its retry, attempts counting the first.
func TestBinaryJournalKeepsRetries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const script = `[ "$WORKQUEUE_ATTEMPT" -ge 2 ] || { echo "attempt $WORKQUEUE_ATTEMPT failed"; exit 1; }; echo "attempt $WORKQUEUE_ATTEMPT"`
	args := []string{"-journal", dir, "-retries", "3", "--", "/bin/sh", "-c", script}
	p := startBinary(t, args...)
	id := p.postJob(t, "retried")
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, _ := p.getJob(t, id)
		if j.State == "queued" && j.Attempts == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %+v, not queued for its retry 10 s on", j)
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("drain exited %d, want 0\nstderr:\n%s", code, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), `msg="retries left in the journal for the next start" jobs=1 ids=`+id) {
		// The backoff ended before the drain began (a machine slower than
		// 0.8 s to deliver a signal): the drain ran the retry itself.
		t.Logf("the retry came due before the drain; stderr:\n%s", p.stderr)
		checkFinishedLogged(t, p.stderr.String(), id, "done", 2) // the drain ran it
		return
	}
	p = startBinary(t, args...)
	j := waitFinal(t, p, id)
	if j.State != "done" || j.Attempts != 2 || j.Output == nil || *j.Output != "attempt 2\n" {
		t.Errorf("after the restart: %+v, want done after 2 attempts with output %q", j, "attempt 2\n")
	}
}
