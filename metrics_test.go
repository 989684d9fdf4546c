package main

import (
	"bufio"
	"cmp"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"workqueue/internal/submit"
)

// scrape fetches /metrics and parses it line by line, checking the text
// format as it goes: every sample belongs to a family whose HELP and TYPE
// came first, every line ends in a newline, and labels are only the few
// low-cardinality ones. It returns the samples by name and labels, as
// `name{labels}`, and the type of each family.
func scrape(t *testing.T, ts *testServer) (map[string]float64, map[string]string) {
	t.Helper()
	rec := ts.do("GET", "/metrics", "", "")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("GET /metrics: %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.String()
	if !strings.HasSuffix(body, "\n") {
		t.Errorf("metrics do not end in a newline")
	}
	sampleRE := regexp.MustCompile(`^(workqueue_[a-z_]+)(\{([a-z]+)="([^"]*)"\})? (\S+)$`)
	samples, types, helps := map[string]float64{}, map[string]string{}, map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "#" {
			switch f[1] {
			case "HELP":
				helps[f[2]] = true
			case "TYPE":
				if !helps[f[2]] {
					t.Errorf("TYPE before HELP for %s", f[2])
				}
				types[f[2]] = f[3]
			}
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("malformed metrics line %q", line)
			continue
		}
		name, label, value := m[1], m[3], m[5]
		family := name
		if types[family] == "" {
			family = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		}
		if types[family] == "" {
			t.Errorf("sample %q comes before its family's TYPE", line)
		}
		if label != "" && label != "reason" && label != "state" && label != "outcome" && label != "le" && label != "of" {
			t.Errorf("sample %q has label %q; only reason, state, outcome, of and le are allowed", line, label)
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Errorf("sample %q: value %v", line, err)
		}
		samples[name+m[2]] = v
	}
	return samples, types
}

// TestMetrics drives a known sequence of accepted, refused, canceled, failed
// and completed jobs and checks /metrics counts each exactly.
func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Workers, cfg.Queue = 1, 3
		ts := newTestServer(t, cfg, panicky)

		_, types := scrape(t, ts)
		for family, typ := range map[string]string{
			"workqueue_jobs_accepted_total": "counter", "workqueue_jobs_rejected_total": "counter",
			"workqueue_jobs_finished_total": "counter", "workqueue_queue_length": "gauge",
			"workqueue_queue_capacity": "gauge", "workqueue_workers": "gauge",
			"workqueue_workers_busy": "gauge", "workqueue_job_wait_seconds": "histogram",
		} {
			if types[family] != typ {
				t.Errorf("family %s: TYPE %q, want %q", family, types[family], typ)
			}
		}

		// Three invalid submissions: 400, 413, 415.
		ts.do("POST", "/work", "", "")
		ts.do("POST", "/work", form, "name="+strings.Repeat("x", submit.MaxBodyBytes))
		ts.do("POST", "/work", textPlain, "hello")
		a := ts.submitID(t, "a", "10s") // runs at once
		synctest.Wait()
		ts.submitID(t, "b", "10s") // held by the dispatcher until a worker is free
		synctest.Wait()
		c := ts.submitID(t, "c", "10s") // queued
		ts.submitID(t, "boom", "0s")    // queued; will panic
		for range 2 {
			if rec := ts.submit("full", ""); rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("POST to a full queue: status %d, want 503", rec.Code)
			}
		}
		m, _ := scrape(t, ts)
		for key, want := range map[string]float64{
			"workqueue_queue_length": 3, "workqueue_queue_capacity": 3,
			"workqueue_workers": 1, "workqueue_workers_busy": 1,
		} {
			if m[key] != want {
				t.Errorf("%s = %v, want %v", key, m[key], want)
			}
		}
		ts.do("DELETE", "/work/"+c, "", "") // canceled while queued
		if m, _ := scrape(t, ts); m["workqueue_queue_length"] != 2 {
			t.Errorf("workqueue_queue_length after a cancel = %v, want 2 (b and boom)", m["workqueue_queue_length"])
		}
		time.Sleep(time.Second)
		ts.do("DELETE", "/work/"+a, "", "") // canceled while running; b starts
		drained := make(chan error)
		go func() { drained <- ts.drain(t.Context()) }()
		synctest.Wait()
		ts.submit("late", "") // refused: draining
		if err := <-drained; err != nil {
			t.Fatal(err)
		}

		m, _ = scrape(t, ts)
		for key, want := range map[string]float64{
			"workqueue_jobs_accepted_total":                    4,
			`workqueue_jobs_rejected_total{reason="full"}`:     2,
			`workqueue_jobs_rejected_total{reason="draining"}`: 1,
			`workqueue_jobs_rejected_total{reason="invalid"}`:  3,
			`workqueue_jobs_finished_total{state="done"}`:      1,
			`workqueue_jobs_finished_total{state="canceled"}`:  2,
			`workqueue_jobs_finished_total{state="failed"}`:    1,
			"workqueue_queue_length":                           0,
			"workqueue_workers_busy":                           0,
			// a, b and boom started, after waits of 0s, 1s and 11s.
			"workqueue_job_wait_seconds_count":              3,
			"workqueue_job_wait_seconds_sum":                12,
			`workqueue_job_wait_seconds_bucket{le="0.001"}`: 1,
			`workqueue_job_wait_seconds_bucket{le="1"}`:     2,
			`workqueue_job_wait_seconds_bucket{le="10"}`:    2,
			`workqueue_job_wait_seconds_bucket{le="30"}`:    3,
			`workqueue_job_wait_seconds_bucket{le="+Inf"}`:  3,
		} {
			if got, ok := m[key]; !ok || got != want {
				t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
			}
		}
		checkBuckets(t, m)
	})
}

// checkBuckets checks the wait histogram's buckets run from 1 ms to 60 s,
// are cumulative, and end in +Inf equal to _count.
func checkBuckets(t *testing.T, m map[string]float64) {
	t.Helper()
	bucketRE := regexp.MustCompile(`^workqueue_job_wait_seconds_bucket\{le="([^"]+)"\}$`)
	type bucket struct{ le, count float64 }
	var buckets []bucket
	for key, v := range m {
		if b := bucketRE.FindStringSubmatch(key); b != nil {
			le, _ := strconv.ParseFloat(b[1], 64) // +Inf parses as infinity
			buckets = append(buckets, bucket{le, v})
		}
	}
	slices.SortFunc(buckets, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	if len(buckets) < 3 || buckets[0].le != 0.001 || buckets[len(buckets)-2].le != 60 {
		t.Fatalf("buckets %v, want 0.001 up to 60 and +Inf", buckets)
	}
	for i := 1; i < len(buckets); i++ {
		if buckets[i].count < buckets[i-1].count {
			t.Errorf("bucket le=%v holds %v, fewer than le=%v's %v: not cumulative",
				buckets[i].le, buckets[i].count, buckets[i-1].le, buckets[i-1].count)
		}
	}
	if last := buckets[len(buckets)-1]; last.count != m["workqueue_job_wait_seconds_count"] {
		t.Errorf("+Inf bucket %v != _count %v", last.count, m["workqueue_job_wait_seconds_count"])
	}
}
