package main

import (
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"workqueue/internal/jobjournal"
)

// del sends DELETE /work/id to the process and returns the status and body.
func (p *proc) del(t *testing.T, id string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("DELETE", p.url+"/work/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("DELETE /work/%s: %v", id, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestJournalFailedRefusesCancels fills the journal's disk (a 1 MiB tmpfs)
// with a job done, both workers held by hour-long jobs and a job queued
// behind them, then cancels the queued job: the cancel cannot be recorded, so it is
// refused with 503 naming the journal, and /healthz and the log say that
// changes are no longer recorded. Killed with SIGKILL and restarted with
// room, the server runs the job whose cancel was refused: what the client
// was told holds at the next start. Before, the cancel was answered 200 and
// the job ran after the restart all the same.
func TestJournalFailedRefusesCancels(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	args := []string{"-journal", dir, "-queue", "10000", "-n", "2", "-max-delay", "1h"}
	p := startBinary(t, args...)
	if code, _ := p.post(t, "quick", "0s"); code != http.StatusCreated {
		t.Fatalf("POST quick: %d, want 201", code)
	}
	p.waitState(t, "1", "done")
	for _, name := range []string{"hold", "hold-too"} {
		if code, _ := p.post(t, name, "1h"); code != http.StatusCreated {
			t.Fatalf("POST %s: %d, want 201", name, code)
		}
	}
	p.waitState(t, "2", "running")
	p.waitState(t, "3", "running")
	code, id := p.post(t, "queued-behind", "0s")
	if code != http.StatusCreated {
		t.Fatalf("POST queued-behind: %d, want 201", code)
	}
	d := &diskFiller{accepted: map[string]bool{}, refused: map[string]bool{}}
	d.fill(p, 5000)
	if d.failure == "" {
		t.Fatal("5,000 jobs of 1 KB accepted on a 1 MiB tmpfs: the journal never failed")
	}
	code, body := p.del(t, id)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "journal") || !strings.Contains(body, "not canceled") {
		t.Errorf("DELETE of a queued job once the journal failed: %d %s, want 503 saying it was not canceled, naming the journal", code, body)
	}
	if j, _ := p.getJob(t, id); j.State != "queued" {
		t.Errorf("job %s is %s after its refused cancel, want queued", id, j.State)
	}
	if code, body := p.del(t, "2"); code != http.StatusServiceUnavailable {
		t.Errorf("DELETE of a running job once the journal failed: %d %s, want 503", code, body)
	}
	if code, body := p.del(t, "1"); code != http.StatusConflict || !strings.Contains(body, "already finished") {
		t.Errorf("DELETE of a done job once the journal failed: %d %s, want 409 already finished", code, body)
	}
	resp, err := http.Get(p.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(hb), jobjournal.Unrecorded) {
		t.Errorf("/healthz: %d %s, want 503 saying %q", resp.StatusCode, hb, jobjournal.Unrecorded)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "will run again at the next start") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := strings.Count(p.stderr.String(), "will run again at the next start"); n != 1 {
		t.Errorf("the log says %d times that jobs will run again, want once:\n%s", n, lastLines(p.stderr.String(), 10))
	}
	p.kill9(t)

	if out, err := exec.Command("mount", "-o", "remount,size=16m", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s: %v: %s", dir, err, out)
	}
	p = startBinary(t, append(slices.Clone(args[:len(args)-4]), "-n", "3", "-max-delay", "1h")...)
	p.waitState(t, id, "done")
	if got := greetings(t, p.stdout); !slices.Contains(got, "queued-behind") {
		t.Errorf("after the restart the job whose cancel was refused did not run: greetings %q", got)
	}
}
