package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"

	"workqueue/internal/job"
)

// list GETs /work?query and returns the jobs' ids and states, failing the
// test unless it answers 200.
func (ts *testServer) list(t *testing.T, query string) (ids, states []string) {
	t.Helper()
	rec := ts.do("GET", "/work?"+query, "", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /work?%s: status = %d, want 200; %s", query, rec.Code, rec.Body)
	}
	var body struct{ Jobs []job.View }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET /work?%s: %v in %s", query, err, rec.Body)
	}
	for _, j := range body.Jobs {
		ids, states = append(ids, j.ID), append(states, j.State)
	}
	return ids, states
}

// byName is a Work that completes jobs named d…, fails those named f…, and
// holds the rest until ctx ends.
func byName(ctx context.Context, r *WorkRequest) error {
	switch r.Name[0] {
	case 'd':
		return nil
	case 'f':
		return errors.New("failed as asked")
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestListOrderAndFilters makes jobs in every state and checks GET /work
// lists them newest first, and every filter: one state, several (by comma
// and repeated), limit, before, and before with a state.
func TestListOrderAndFilters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers = 2
		ts := newTestServer(t, cfg, byName)
		for _, name := range []string{"d1", "f2", "d3"} {
			ts.submitID(t, name, "")
			synctest.Wait()
		}
		for _, name := range []string{"h4", "h5", "q6", "q7", "c8"} { // two run, three wait
			ts.submitID(t, name, "")
			synctest.Wait()
		}
		ts.do("DELETE", "/work/8", "", "")
		tests := []struct {
			query      string
			ids        string
			wantStates string
		}{
			{"", "8 7 6 5 4 3 2 1", "canceled queued queued running running done failed done"},
			{"state=queued", "7 6", ""},
			{"state=running", "5 4", ""},
			{"state=done", "3 1", ""},
			{"state=failed", "2", ""},
			{"state=canceled", "8", ""},
			{"state=done,failed", "3 2 1", ""},
			{"state=queued&state=canceled", "8 7 6", ""},
			{"limit=3", "8 7 6", ""},
			{"limit=1000", "8 7 6 5 4 3 2 1", ""},
			{"before=5", "4 3 2 1", ""},
			{"before=5&limit=2", "4 3", ""},
			{"before=5&state=done", "3 1", ""},
			{"before=1", "", ""},
			{"before=100", "8 7 6 5 4 3 2 1", ""},
			{"state=done,running&limit=2", "5 4", ""},
		}
		for _, tt := range tests {
			ids, states := ts.list(t, tt.query)
			if got := strings.Join(ids, " "); got != tt.ids {
				t.Errorf("GET /work?%s: ids %q, want %q", tt.query, got, tt.ids)
			}
			if got := strings.Join(states, " "); tt.wantStates != "" && got != tt.wantStates {
				t.Errorf("GET /work?%s: states %q, want %q", tt.query, got, tt.wantStates)
			}
		}
	})
}

// TestListPaging pages through 250 jobs, 7 at a time, each page starting
// before the last id of the one before, and checks every job is listed
// exactly once, newest first.
func TestListPaging(t *testing.T) {
	cfg := testConfig()
	cfg.Queue = 300
	ts := newTestServer(t, cfg, newGate(nil).work)
	for i := range 250 {
		ts.submitID(t, fmt.Sprint("j", i), "")
	}
	var seen []string
	query := "limit=7"
	for page := 0; ; page++ {
		if page > 250 {
			t.Fatal("more than 250 pages")
		}
		ids, _ := ts.list(t, query)
		if len(ids) == 0 {
			break
		}
		seen = append(seen, ids...)
		query = "limit=7&before=" + ids[len(ids)-1]
	}
	if len(seen) != 250 {
		t.Fatalf("paging listed %d jobs, want 250", len(seen))
	}
	for i, id := range seen {
		if want := strconv.Itoa(250 - i); id != want {
			t.Fatalf("job %d of the listing is %s, want %s: each once, newest first", i, id, want)
		}
	}
}

// TestListBadQuery checks every bad parameter is a 400 that names it.
func TestListBadQuery(t *testing.T) {
	ts := newTestServer(t, testConfig(), Sleep)
	tests := []struct{ query, wantErr string }{
		{"state=finished", `state "finished" is not a state: use one or several of queued, running, done, canceled, failed`},
		{"state=", `state ""`},
		{"state=done,", `state ""`},
		{"state=Done", `state "Done"`},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=-1", "limit"},
		{"limit=ten", "limit"},
		{"limit=", "limit"},
		{"limit=5&limit=6", "limit"},
		{"before=abc", "before"},
		{"before=007", "before"},
		{"before=-1", "before"},
		{"before=", "before"},
		{"name=Alice", "submit a job with POST /work"},
		{"%zz", "malformed"},
	}
	for _, tt := range tests {
		rec := ts.do("GET", "/work?"+tt.query, "", "")
		if rec.Code != http.StatusBadRequest {
			t.Errorf("GET /work?%s: status = %d, want 400", tt.query, rec.Code)
			continue
		}
		if msg := decodeError(t, rec.Body.Bytes()); !strings.Contains(msg, tt.wantErr) {
			t.Errorf("GET /work?%s: error %q, want it to contain %q", tt.query, msg, tt.wantErr)
		}
	}
	rec := ts.do("PUT", "/work", "", "")
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, POST" {
		t.Errorf("PUT /work: %d, Allow %q; want 405, GET, POST", rec.Code, rec.Header().Get("Allow"))
	}
}
