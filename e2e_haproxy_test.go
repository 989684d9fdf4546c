package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"workqueue/internal/testutil"
)

// haproxyPath returns the haproxy binary, skipping the test if there is
// none, unless CI is set: CI installs it, and a CI without it must fail, not
// pass by skipping.
func haproxyPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"haproxy", "/usr/sbin/haproxy"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("haproxy is not installed, and CI is set: .ci/run installs it (apt-get install haproxy)")
	}
	t.Skip("haproxy is not installed (apt-get install haproxy): skipping the test of scripts/haproxy; with CI set it fails instead")
	return ""
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// balanced is a test's view of three workqueue instances, nodes a, b and
// c, behind haproxy with scripts/haproxy/haproxy.cfg.
type balanced struct {
	t        *testing.T
	lb       string // the load balancer's URL
	stats    string // its stats page, CSV
	client   *http.Client
	bearer   string
	inst     map[string]*proc   // by node: the instance's current life
	lives    map[string][]*proc // by node: every life, in order
	addr     map[string]string  // by node: its -http, the same in every life
	dirs     map[string]string  // by node: its -journal
	tokens   string             // the token file
	mu       sync.Mutex
	accepted map[string]string // name → id, of every 201
}

// start starts (again) the instance of node on its address and journal.
func (b *balanced) start(node string) {
	p := startBinary(b.t, "-http", b.addr[node], "-node", node, "-journal", b.dirs[node], "-n", "1", "-token-file", b.tokens)
	b.inst[node] = p
	b.lives[node] = append(b.lives[node], p)
}

// post submits name through the load balancer, with key as its
// Idempotency-Key unless "", and returns the status and the id.
func (b *balanced) post(name, delay, key string) (int, string) {
	req, _ := http.NewRequest("POST", b.lb+"/work", strings.NewReader(url.Values{"name": {name}, "delay": {delay}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", b.bearer)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, ""
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := strings.TrimPrefix(resp.Header.Get("Location"), "/work/")
	if resp.StatusCode == http.StatusCreated {
		b.mu.Lock()
		if prev, ok := b.accepted[name]; ok && prev != id {
			b.t.Errorf("POST %s: id %s, but it was %s before", name, id, prev)
		}
		b.accepted[name] = id
		b.mu.Unlock()
	}
	return resp.StatusCode, id
}

// job returns the job id through the load balancer, waiting up to 10 s
// for it to finish, and the status.
func (b *balanced) job(id string) (int, struct {
	ID, Name, State string
	Attempts        int
}) {
	var j struct {
		ID, Name, State string
		Attempts        int
	}
	req, _ := http.NewRequest("GET", b.lb+"/work/"+id+"?wait=10s", nil)
	req.Header.Set("Authorization", b.bearer)
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("GET /work/%s: %v", id, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &j); err != nil {
			b.t.Fatalf("GET /work/%s: %v: %s", id, err, body)
		}
	}
	return resp.StatusCode, j
}

// up returns, by node, whether haproxy's health check holds each instance up.
func (b *balanced) up() map[string]bool {
	resp, err := http.Get(b.stats)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(rows) == 0 {
		return nil
	}
	status := slices.Index(rows[0], "status")
	up := map[string]bool{}
	for _, r := range rows[1:] {
		if r[0] == "workqueue" && status > 0 && len(r) > status && len(r[1]) == 1 {
			up[r[1]] = strings.HasPrefix(r[status], "UP")
		}
	}
	return up
}

// waitUp waits until haproxy holds every node of want up or down, as want says.
func (b *balanced) waitUp(want map[string]bool) {
	b.t.Helper()
	if !testutil.PollUntil(time.Now().Add(20*time.Second), func() bool {
		up := b.up()
		for node, w := range want {
			if up[node] != w {
				return false
			}
		}
		return true
	}) {
		b.t.Fatalf("haproxy holds the instances up %v, want %v, after 20s", b.up(), want)
	}
}

// TestHAProxy runs three instances (-node a, b, c, each its own journal
// and the same tokens) behind Debian's haproxy with
// scripts/haproxy/haproxy.cfg, and shows: submissions spread over all
// three; every id is answered through the balancer by its own instance; a
// retried Idempotency-Key makes no second job; an instance killed -9 with
// jobs queued loses none of them, and gets new jobs again once its health
// check passes; and every job accepted ran on its own instance, once (the
// job that was running at the kill at most twice, saying so in attempts).
func TestHAProxy(t *testing.T) {
	haproxy := haproxyPath(t)
	t.Parallel()
	b := &balanced{t: t, client: &http.Client{Timeout: 20 * time.Second}, bearer: "Bearer " + tokenA,
		inst: map[string]*proc{}, lives: map[string][]*proc{}, addr: map[string]string{}, dirs: map[string]string{},
		tokens: writeTokens(t, 0o600), accepted: map[string]string{}}
	nodes := []string{"a", "b", "c"}
	for _, n := range nodes {
		b.addr[n], b.dirs[n] = freeAddr(t), filepath.Join(t.TempDir(), n)
		b.start(n)
	}
	lbAddr, statsAddr := freeAddr(t), freeAddr(t)
	b.lb, b.stats = "http://"+lbAddr, "http://"+statsAddr+"/stats;csv"
	cmd := exec.Command(haproxy, "-db", "-f", "scripts/haproxy/haproxy.cfg")
	cmd.Env = append(os.Environ(), "WQ_BIND="+lbAddr, "WQ_STATS_BIND="+statsAddr,
		"WQ_A="+b.addr["a"], "WQ_B="+b.addr["b"], "WQ_C="+b.addr["c"],
		"WQ_CHECK_INTER=100ms", "WQ_CHECK_FALL=1", "WQ_CHECK_RISE=1")
	lb := startCmd(t, cmd)
	defer func() {
		if t.Failed() {
			t.Logf("haproxy's output:\n%s%s", lb.stdout, lb.stderr)
		}
	}()
	b.waitUp(map[string]bool{"a": true, "b": true, "c": true})

	// Round robin: every instance gets jobs, and answers for its own ids.
	for i := range 30 {
		if code, _ := b.post(fmt.Sprintf("spread-%d", i), "0s", ""); code != http.StatusCreated {
			t.Fatalf("POST spread-%d: %d", i, code)
		}
	}
	perNode := map[string]int{}
	for name, id := range b.accepted {
		node, _, _ := strings.Cut(id, "-")
		perNode[node]++
		if code, j := b.job(id); code != http.StatusOK || j.ID != id || j.Name != name || j.State != "done" {
			t.Errorf("GET /work/%s through haproxy: %d %+v, want %s done", id, code, j, name)
		}
	}
	for _, n := range nodes {
		if perNode[n] == 0 {
			t.Errorf("no job of the 30 went to node %s: %v", n, perNode)
		}
	}

	// A retried key makes no second job, whichever instance holds it.
	keys := map[string]string{} // key → the id of its job
	for i := range 12 {
		key, name := fmt.Sprintf("key-%d", i), fmt.Sprintf("keyed-%d", i)
		_, first := b.post(name, "0s", key)
		keys[key] = first
		for range 3 {
			if code, id := b.post(name, "0s", key); code != http.StatusCreated || id != first {
				t.Errorf("retry of Idempotency-Key %s: %d %s, want 201 %s", key, code, id, first)
			}
		}
	}

	// kill -9 an instance with a backlog: jobs of 300ms on one worker each.
	for i := range 30 {
		b.post(fmt.Sprintf("backlog-%d", i), "300ms", "")
	}
	b.inst["c"].kill9(t)
	b.waitUp(map[string]bool{"a": true, "b": true, "c": false})
	for i := range 15 { // none reaches c, and none is refused
		if code, id := b.post(fmt.Sprintf("while-down-%d", i), "0s", ""); code != http.StatusCreated || strings.HasPrefix(id, "c-") {
			t.Errorf("POST while c is down: %d %s, want 201 from a or b", code, id)
		}
	}
	if code, _ := b.job("c-1"); code != http.StatusServiceUnavailable {
		t.Errorf("GET /work/c-1 while c is down: %d, want 503 from haproxy (no other instance may answer for c's ids)", code)
	}
	b.start("c")
	if m := regexp.MustCompile(`msg="journal replayed" .*queued=(\d+)`).FindStringSubmatch(b.inst["c"].stderr.String()); m == nil || m[1] == "0" {
		t.Errorf("c's restart replayed no queued job (%q): the kill came too late to test a backlog\n%s", m, b.inst["c"].stderr)
	}
	b.waitUp(map[string]bool{"a": true, "b": true, "c": true})
	if code, _ := b.job("zz-1"); code != http.StatusNotFound {
		t.Errorf("GET /work/zz-1, of no node: %d, want 404", code)
	}
	for key, id := range keys { // c's keys too, from its journal
		name := "keyed-" + strings.TrimPrefix(key, "key-")
		if code, got := b.post(name, "0s", key); code != http.StatusCreated || got != id {
			t.Errorf("retry of Idempotency-Key %s after c's restart: %d %s, want 201 %s", key, code, got, id)
		}
	}
	back := 0
	for i := range 15 {
		if _, id := b.post(fmt.Sprintf("after-%d", i), "0s", ""); strings.HasPrefix(id, "c-") {
			back++
		}
	}
	if back == 0 {
		t.Errorf("no job of 15 went to c once it was up again")
	}

	// Every job accepted finishes, on its own instance, once.
	rerun := map[string]bool{}
	for name, id := range b.accepted {
		code, j := b.job(id)
		if code != http.StatusOK || j.State != "done" {
			t.Errorf("job %s (%s) after all: %d %+v, want done", id, name, code, j)
		}
		if j.Attempts > 1 {
			rerun[name] = true
		}
	}
	for _, n := range nodes {
		b.inst[n].signal(t, syscall.SIGTERM)
	}
	printed := map[string]map[string]int{} // node → name → greetings
	for _, n := range nodes {
		if code := b.inst[n].wait(t, 20*time.Second); code != 0 {
			t.Errorf("node %s drained with exit %d", n, code)
		}
		printed[n] = map[string]int{}
		for _, p := range b.lives[n] {
			for _, name := range greetings(t, p.stdout) {
				printed[n][name]++
			}
		}
	}
	repeats := 0
	for name, id := range b.accepted {
		node, _, _ := strings.Cut(id, "-")
		for _, n := range nodes {
			got, want := printed[n][name], 0
			if n == node {
				want = 1
			}
			if n == node && got == 2 && rerun[name] && n == "c" {
				repeats++ // running at the kill: at least once
				continue
			}
			if got != want {
				t.Errorf("job %s (%s) ran %d times on node %s, want %d", id, name, got, n, want)
			}
		}
	}
	if repeats > 1 {
		t.Errorf("%d jobs ran twice on c, want at most 1 (one worker, one kill)", repeats)
	}
	total := 0
	for _, n := range nodes {
		for name := range printed[n] {
			if _, ok := b.accepted[name]; !ok {
				t.Errorf("node %s ran %s, which was never accepted", n, name)
			}
			total += printed[n][name]
		}
	}
	t.Logf("%d jobs accepted through haproxy (%v of the first 30), %d greetings, %d repeated after the kill; %d of 15 to c once back",
		len(b.accepted), perNode, total, repeats, back)
}
