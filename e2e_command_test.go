package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"
)

// postJob posts a job with the given name to the binary and returns its id.
func (p *proc) postJob(t *testing.T, name string) string {
	t.Helper()
	resp, err := http.PostForm(p.url+"/work", url.Values{"name": {name}})
	if err != nil {
		t.Fatalf("POST %q: %v", name, err)
	}
	defer resp.Body.Close()
	var j job
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
	if got := greetings(t, p.stdout); len(got) != 1 || got[0] != "--output=/etc/passwd" {
		t.Errorf("greetings %q, want the job's alone, once", got)
	}
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
	var ps []osProcess
	if !pollUntil(time.Now().Add(10*time.Second), func() bool { ps = markedProcesses(mark, server); return len(ps) == 2 }) {
		t.Fatalf("the server's commands: %+v, want two sleeps", ps)
	}
	for _, c := range ps {
		if c.ppid != server {
			t.Fatalf("command %+v: parent %d, want the server %d", c, c.ppid, server)
		}
	}
	p.signal(t, syscall.SIGKILL)
	if !pollUntil(time.Now().Add(5*time.Second), func() bool { ps = markedProcesses(mark, server); return len(ps) == 0 }) {
		t.Errorf("commands left 5 s after the server was killed: %+v, want none", ps)
	}
}
