package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinaryNode runs the real binary with -node a and a journal: every id
// is a-<n>, in the Location, the body, the listing, its before= and the
// command's environment; an id of another node, or a bare number, is 404;
// a restart under the same node keeps the ids and continues them.
func TestBinaryNode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startBinary(t, "-journal", dir, "-node", "a", "-n", "1")
	var ids []string
	for _, name := range []string{"one", "two", "three"} {
		code, id := p.post(t, name, "0s")
		if code != http.StatusCreated {
			t.Fatalf("POST %s: status %d", name, code)
		}
		ids = append(ids, id)
	}
	if want := []string{"a-1", "a-2", "a-3"}; strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Fatalf("ids = %q, want %q", ids, want)
	}
	p.waitState(t, "a-3", "done")
	if j, ok := p.getJob(t, "a-2"); !ok || j.ID != "a-2" || j.Name != "two" {
		t.Errorf("GET /work/a-2 = %+v, %v; want job a-2, two", j, ok)
	}
	for _, id := range []string{"2", "b-2", "a-02", "aa-2", "-2"} {
		if _, ok := p.getJob(t, id); ok {
			t.Errorf("GET /work/%s: found, want 404 (not an id of node a)", id)
		}
	}
	if got := listIDs(t, p.url+"/work?before=a-3"); got != "a-2,a-1" {
		t.Errorf("GET /work?before=a-3: ids %s, want a-2,a-1", got)
	}
	p.kill9(t)

	p = startBinary(t, "-journal", dir, "-node", "a", "-n", "1")
	if j, ok := p.getJob(t, "a-1"); !ok || j.State != "done" {
		t.Errorf("after the restart, GET /work/a-1 = %+v, %v; want done", j, ok)
	}
	if code, id := p.post(t, "four", "0s"); code != http.StatusCreated || id != "a-4" {
		t.Errorf("after the restart, POST: %d %q, want 201 a-4", code, id)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("drain exited %d\n%s", code, p.stderr)
	}
}

// listIDs returns the ids GET url lists, comma-separated.
func listIDs(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var l struct{ Jobs []struct{ ID string } }
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
	var ids []string
	for _, j := range l.Jobs {
		ids = append(ids, j.ID)
	}
	return strings.Join(ids, ",")
}

// TestBinaryNodeJournal checks the node a journal was written by: a
// journal of -node a starts again only under -node a, and one written
// without -node (as every journal before -node was) only without it; any
// other start exits 1 naming both, and changes nothing.
func TestBinaryNodeJournal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		first, then []string // the flags of the first start, and of the second
		want        string   // in the second's message; "" if it starts
	}{
		{"same node", []string{"-node", "a"}, []string{"-node", "a"}, ""},
		{"another node", []string{"-node", "a"}, []string{"-node", "b"}, "was written by -node a, and this server is -node b"},
		{"node dropped", []string{"-node", "a"}, nil, "was written by -node a, and this server is a server without -node"},
		{"no node before", nil, nil, ""},
		{"node added", nil, []string{"-node", "a"}, "was written by a server without -node, and this server is -node a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := startBinary(t, append([]string{"-journal", dir}, tt.first...)...)
			code, id := p.post(t, "kept", "0s")
			if code != http.StatusCreated {
				t.Fatalf("POST: %d", code)
			}
			p.waitState(t, id, "done")
			p.signal(t, syscall.SIGTERM)
			p.wait(t, 10*time.Second)
			for range 2 { // a refusal changes nothing: the same again
				if tt.want == "" {
					break
				}
				out, err := exec.Command(binary, append([]string{"-http", "127.0.0.1:0", "-journal", dir}, tt.then...)...).CombinedOutput()
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), tt.want) {
					t.Fatalf("second start: %v, %s; want exit 1 saying %q", err, out, tt.want)
				}
			}
			if tt.want != "" {
				p = startBinary(t, append([]string{"-journal", dir}, tt.first...)...) // still the first's
			} else {
				p = startBinary(t, append([]string{"-journal", dir}, tt.then...)...)
			}
			if j, ok := p.getJob(t, id); !ok || j.State != "done" {
				t.Errorf("after: GET /work/%s = %+v, %v; want done", id, j, ok)
			}
		})
	}
}
