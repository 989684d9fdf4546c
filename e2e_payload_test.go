package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBinaryPayloadScheduledKill9 drives the real binary with -journal and
// -n 1, its command copying standard input to a file named by the job's id
// and noting the job's name in a file of the order jobs ran in. A job's
// payload reaches the command byte for byte; after kill -9 and a restart, a
// job scheduled an hour ahead still waits, with its payload and run_at, and
// three whose run_at passed while the server was down, submitted in the
// reverse of their run_at order, run at once in run_at order, their
// payloads replayed byte for byte.
func TestBinaryPayloadScheduledKill9(t *testing.T) {
	t.Parallel()
	dir, out := t.TempDir(), t.TempDir()
	const script = `cat > "$1/$WORKQUEUE_JOB_ID" && echo "$WORKQUEUE_NAME" >> "$1/order"`
	args := []string{"-journal", dir, "-n", "1", "--", "/bin/sh", "-c", script, "sh", out}
	p := startBinary(t, args...)
	post := func(name, payload string, runAt time.Time) string {
		t.Helper()
		vs := url.Values{"name": {name}, "payload": {payload}}
		if !runAt.IsZero() {
			vs.Set("run_at", runAt.Format(time.RFC3339Nano))
		}
		code, id, body := p.postValues(t, vs)
		if code != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", name, code, body)
		}
		return id
	}
	const margin = 3 * time.Second // for the submissions and the kill, before the first run_at
	now := time.Now()
	ids := map[string]string{}
	ids["later"] = post("later", payloads[1], now.Add(time.Hour))
	ids["c"] = post("c", payloads[2], now.Add(margin+200*time.Millisecond))
	ids["b"] = post("b", payloads[3], now.Add(margin+100*time.Millisecond))
	ids["a"] = post("a", payloads[1], now.Add(margin))
	ids["now"] = post("now", payloads[1], time.Time{})
	if j := waitFinal(t, p, ids["now"]); j.State != "done" {
		t.Fatalf("job now: %+v, want done", j)
	}
	for _, name := range []string{"later", "a", "b", "c"} {
		if j, _ := p.getJob(t, ids[name]); j.State != "queued" || j.RunAt.IsZero() {
			t.Fatalf("job %s before the kill: %+v, want queued with its run_at (a machine this slow needs a larger margin)", name, j)
		}
	}
	p.kill9(t)
	// What is awaited here is the clock itself, no event: every run_at but
	// later's passes while the server is down.
	time.Sleep(time.Until(now.Add(margin + 300*time.Millisecond)))

	p = startBinary(t, args...)
	for _, name := range []string{"a", "b", "c"} {
		if j := waitFinal(t, p, ids[name]); j.State != "done" || j.Attempts != 1 {
			t.Errorf("job %s after the restart: %+v, want done after one attempt", name, j)
		}
	}
	order, _ := os.ReadFile(filepath.Join(out, "order"))
	if got, want := string(order), "now\na\nb\nc\n"; got != want {
		t.Errorf("jobs ran in the order %q, want %q: the overdue ones in run_at order", got, want)
	}
	for name, payload := range map[string]string{"now": payloads[1], "a": payloads[1], "b": payloads[3], "c": payloads[2]} {
		got, err := os.ReadFile(filepath.Join(out, ids[name]))
		if err != nil || string(got) != payload+"\n" {
			t.Errorf("job %s's standard input: %q, %v; want %q and a newline", name, got, err, payload)
		}
	}
	j, _ := p.getJob(t, ids["later"])
	if j.State != "queued" || !j.RunAt.Equal(now.Add(time.Hour).Truncate(0)) || string(j.Payload) != payloads[1] || !j.StartedAt.IsZero() {
		t.Errorf("job later after the restart: %+v, want still queued for its run_at, its payload kept", j)
	}
	if n := p.metric(t, "workqueue_jobs_scheduled"); n != 1 {
		t.Errorf("workqueue_jobs_scheduled after the restart: %d, want 1", n)
	}
	if !strings.Contains(p.stderr.String(), "scheduled=1") {
		t.Errorf("the replay's log line does not say scheduled=1:\n%s", p.stderr)
	}
}
