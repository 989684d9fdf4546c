package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"workqueue/internal/testutil"
)

// call posts the form v to path on p and returns the status and body.
func (p *proc) call(t *testing.T, path string, v url.Values) (int, []byte) {
	t.Helper()
	resp, err := http.PostForm(p.url+path, v)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// claimJob claims a job from p, waiting up to 5 s, with the lease lease
// ("" for the default), and fails the test without one.
func (p *proc) claimJob(t *testing.T, lease string) claimAnswer {
	t.Helper()
	v := url.Values{"wait": {"5s"}, "worker": {"test"}}
	if lease != "" {
		v.Set("lease", lease)
	}
	code, body := p.call(t, "/work/claim", v)
	if code != http.StatusOK {
		t.Fatalf("POST /work/claim: %d %s", code, body)
	}
	var a claimAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("POST /work/claim: %v in %s", err, body)
	}
	return a
}

// startRunner starts the binary as a remote worker of server with args,
// then -- and command.
func startRunner(t *testing.T, server *proc, args []string, command ...string) *proc {
	t.Helper()
	all := append([]string{"-remote", server.url}, args...)
	all = append(append(all, "--"), command...)
	p := startCmd(t, exec.Command(binary, all...))
	p.waitLog(t, "remote worker started")
	return p
}

// TestBinaryRemoteFIFO runs the binary with one local worker, whose command
// takes a few milliseconds, beside a remote claimant over HTTP: each job the
// claimant gets is the oldest still queued (every older one has started),
// and every job runs once, either on the local worker or on the remote one.
func TestBinaryRemoteFIFO(t *testing.T) {
	const jobs = 40
	p := startBinary(t, "-n", "1", "--", "sh", "-c", "sleep 0.01")
	for i := range jobs {
		if code := p.submit(t, fmt.Sprintf("j%02d", i+1), ""); code != http.StatusCreated {
			t.Fatalf("POST: %d", code)
		}
	}
	remote := 0
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		code, body := p.call(t, "/work/claim", url.Values{"wait": {"200ms"}})
		if code == http.StatusNoContent {
			break
		}
		if code != http.StatusOK {
			t.Fatalf("claim: %d %s", code, body)
		}
		var a claimAnswer
		json.Unmarshal(body, &a)
		k, _ := strconv.Atoi(a.Job.ID)
		for j := 1; j < k; j++ {
			if older, _ := p.getJob(t, strconv.Itoa(j)); older.State == "queued" {
				t.Errorf("claim got job %d while job %d was still queued", k, j)
			}
		}
		remote++
		if code, body := p.call(t, "/work/"+a.Job.ID+"/done", url.Values{"lease": {a.Lease}}); code != http.StatusOK {
			t.Fatalf("done: %d %s", code, body)
		}
	}
	local := 0
	for i := range jobs {
		id := strconv.Itoa(i + 1)
		p.waitState(t, id, "done")
		j, _ := p.getJob(t, id)
		if j.Attempts != 1 {
			t.Errorf("job %s: %d attempts, want 1", id, j.Attempts)
		}
		if j.ClaimedBy == "" {
			local++
		}
	}
	if remote == 0 || local == 0 || local+remote != jobs {
		t.Errorf("remote ran %d, local %d, of %d jobs: want both some, adding up", remote, local, jobs)
	}
}

// TestBinaryRemoteKill9 kills the server with -journal while two of its
// jobs are leased: after the restart they are queued again with their
// attempt counted, the old leases are unknown (409), and they run again.
func TestBinaryRemoteKill9(t *testing.T) {
	dir := t.TempDir()
	p := startBinary(t, "-n", "0", "-journal", dir)
	for _, n := range []string{"a", "b", "c"} {
		p.submit(t, n, "")
	}
	a, b := p.claimJob(t, ""), p.claimJob(t, "")
	if code, body := p.call(t, "/work/"+a.Job.ID+"/heartbeat", url.Values{"lease": {a.Lease}}); code != http.StatusOK {
		t.Fatalf("heartbeat: %d %s", code, body)
	}
	p.kill9(t)
	p = startBinary(t, "-n", "0", "-journal", dir)
	for _, id := range []string{a.Job.ID, b.Job.ID} {
		if j, _ := p.getJob(t, id); j.State != "queued" || j.Attempts != 1 {
			t.Errorf("job %s after the restart: %s, %d attempts; want queued, 1", id, j.State, j.Attempts)
		}
	}
	if code, body := p.call(t, "/work/"+a.Job.ID+"/done", url.Values{"lease": {a.Lease}}); code != http.StatusConflict {
		t.Errorf("done with a lease from before the restart: %d %s, want 409", code, body)
	}
	for range 3 {
		c := p.claimJob(t, "")
		if code, body := p.call(t, "/work/"+c.Job.ID+"/done", url.Values{"lease": {c.Lease}, "output": {"ok"}}); code != http.StatusOK {
			t.Fatalf("done: %d %s", code, body)
		}
	}
	for id, want := range map[string]int{a.Job.ID: 2, b.Job.ID: 2, "3": 1} {
		if j, _ := p.getJob(t, id); j.State != "done" || j.Attempts != want {
			t.Errorf("job %s: %s, %d attempts; want done, %d", id, j.State, j.Attempts, want)
		}
	}
	// A done answered 200 is durable: it holds through another kill -9.
	p.kill9(t)
	p = startBinary(t, "-n", "0", "-journal", dir)
	if j, _ := p.getJob(t, "3"); j.State != "done" {
		t.Errorf("job 3 after a second kill -9: %s, want done", j.State)
	}
}

// runnerScript is the command of the runner tests: it prints its job's
// environment and standard input; a job named slow sleeps 3 s (longer than
// its lease: heartbeats keep it), fail exits 3, nope exits 65 (do not
// retry), hang writes its pid to $DIR/pid and sleeps unless it is a retry.
const runnerScript = `read -r line
echo "id=$WORKQUEUE_JOB_ID name=$WORKQUEUE_NAME attempt=$WORKQUEUE_ATTEMPT stdin=$line"
case $line in
slow) sleep 3 ;;
fail) exit 3 ;;
nope) exit 65 ;;
hang) if [ "$WORKQUEUE_ATTEMPT" = 1 ]; then echo $$ > "$DIR/pid"; exec sleep 60; fi ;;
esac`

// TestBinaryRunner runs jobs through a runner with -n 4 against a server
// with -n 0: each command gets its job's environment and standard input,
// its output is kept, a slow job outlives its lease by heartbeats, an exit
// 3 is retried, an exit 65 is not, and SIGTERM makes the runner exit 0.
func TestBinaryRunner(t *testing.T) {
	s := startBinary(t, "-n", "0", "-retries", "1", "--", "true")
	rn := startRunner(t, s, []string{"-n", "4", "-lease", "1s"}, "sh", "-c", runnerScript)
	ids := map[string]string{}
	for _, n := range []string{"slow", "fail", "nope", "-x", "a", "b", "c", "d"} {
		ids[n] = s.postJob(t, n)
	}
	for _, n := range []string{"slow", "-x", "a", "b", "c", "d"} {
		s.waitState(t, ids[n], "done")
		j, _ := s.getJob(t, ids[n])
		want := fmt.Sprintf("id=%s name=%s attempt=1 stdin=%s\n", ids[n], n, n)
		if j.Output == nil || *j.Output != want || j.ClaimedBy == "" || j.Worker != 0 {
			t.Errorf("job %s: output %v, claimed_by %q, worker %d; want %q, a name, no worker", n, j.Output, j.ClaimedBy, j.Worker, want)
		}
	}
	s.waitState(t, ids["fail"], "failed")
	if j, _ := s.getJob(t, ids["fail"]); j.Attempts != 2 || j.Error != "exit status 3" {
		t.Errorf("fail: %d attempts, error %q; want 2, exit status 3", j.Attempts, j.Error)
	}
	s.waitState(t, ids["nope"], "failed")
	if j, _ := s.getJob(t, ids["nope"]); j.Attempts != 1 {
		t.Errorf("nope (exit 65): %d attempts, want 1", j.Attempts)
	}
	if n := s.metric(t, "workqueue_leases_expired_total"); n != 0 {
		t.Errorf("leases expired: %d, want 0 (the heartbeats renew them)", n)
	}
	rn.signal(t, syscall.SIGTERM)
	if code := rn.wait(t, 10*time.Second); code != 0 {
		t.Errorf("runner exit status after SIGTERM: %d, want 0\n%s", code, rn.stderr)
	}
}

// TestBinaryRunnerCancelAndKill checks that a DELETE of a job a runner runs
// ends its command (the runner learns it from the heartbeat's 409), and
// that after kill -9 of a runner its command dies, the lease expires and
// the job runs again on another runner.
func TestBinaryRunnerCancelAndKill(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DIR", dir) // for the runners' commands
	s := startBinary(t, "-n", "0", "-retries", "1", "--", "true")
	rn := startRunner(t, s, []string{"-n", "1", "-lease", "1s"}, "sh", "-c", runnerScript)

	id := s.postJob(t, "hang")
	pid := waitPid(t, filepath.Join(dir, "pid"))
	resp, err := http.DefaultClient.Do(mustRequest(t, "DELETE", s.url+"/work/"+id))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	resp.Body.Close()
	if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool { return syscall.Kill(pid, 0) != nil }) {
		t.Fatalf("command %d still running 10s after its job was canceled", pid)
	}
	if j, _ := s.getJob(t, id); j.State != "canceled" {
		t.Errorf("job: %s, want canceled", j.State)
	}

	os.Remove(filepath.Join(dir, "pid"))
	id = s.postJob(t, "hang")
	pid = waitPid(t, filepath.Join(dir, "pid"))
	rn.kill9(t)
	if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool { return syscall.Kill(pid, 0) != nil }) {
		t.Fatalf("command %d still running 10s after its runner was killed", pid)
	}
	startRunner(t, s, []string{"-n", "1", "-lease", "1s"}, "sh", "-c", runnerScript)
	s.waitState(t, id, "done")
	if j, _ := s.getJob(t, id); j.Attempts != 2 {
		t.Errorf("job after its runner's kill -9: %d attempts, want 2", j.Attempts)
	}
	if n := s.metric(t, "workqueue_leases_expired_total"); n != 1 {
		t.Errorf("leases expired: %d, want 1", n)
	}
}

// TestBinaryRunnerShutdownTimeout sends SIGTERM to a runner whose command
// outlives -shutdown-timeout: the command is ended, the job reported
// failed, and the runner exits 0, having reported everything.
func TestBinaryRunnerShutdownTimeout(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DIR", dir)
	s := startBinary(t, "-n", "0")
	rn := startRunner(t, s, []string{"-n", "2", "-shutdown-timeout", "1s"}, "sh", "-c", runnerScript)
	hang := s.postJob(t, "hang")
	waitPid(t, filepath.Join(dir, "pid"))
	rn.signal(t, syscall.SIGTERM)
	if code := rn.wait(t, 15*time.Second); code != 0 {
		t.Errorf("runner exit status: %d, want 0\n%s", code, rn.stderr)
	}
	if j, _ := s.getJob(t, hang); j.State != "failed" || !strings.Contains(j.Error, "shutdown-timeout") {
		t.Errorf("job past -shutdown-timeout: %s %q, want failed naming -shutdown-timeout", j.State, j.Error)
	}
}

// TestBinaryRemoteDrain sends SIGTERM to a server while a runner runs one
// of its jobs: the drain waits for its report, then a claim is 503 and the
// server exits 0; the runner outlives it, backing off, and exits 0 on
// SIGTERM.
func TestBinaryRemoteDrain(t *testing.T) {
	s := startBinary(t, "-n", "0")
	rn := startRunner(t, s, []string{"-n", "1"}, "sh", "-c", runnerScript)
	slow := s.postJob(t, "slow")
	s.waitState(t, slow, "running")
	s.signal(t, syscall.SIGTERM)
	if code := s.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("server exit status: %d, want 0\n%s", code, s.stderr)
	}
	if !strings.Contains(rn.stderr.String(), "id="+slow+" call=done") {
		t.Errorf("the runner did not report the job done before the server exited:\n%s", rn.stderr)
	}
	rn.waitLog(t, "cannot claim a job")
	rn.signal(t, syscall.SIGTERM)
	if code := rn.wait(t, 10*time.Second); code != 0 {
		t.Errorf("runner exit status: %d, want 0\n%s", code, rn.stderr)
	}
}

// waitPid reads the pid a command wrote to path, waiting up to 10 s for it.
func waitPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	if !testutil.PollUntil(time.Now().Add(10*time.Second), func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}) {
		t.Fatalf("no pid in %s after 10s", path)
	}
	return pid
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
