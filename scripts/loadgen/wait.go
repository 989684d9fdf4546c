package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// doneMetric is the line of workqueue's /metrics that counts jobs done
// (SPEC.md, "Metrics").
const doneMetric = `workqueue_jobs_finished_total{state="done"}`

// waitDone polls the /metrics of the server behind workURL every 5 ms until
// its count of jobs done reaches want. It returns an error at deadline.
func waitDone(hc *http.Client, workURL string, want float64, deadline time.Time) error {
	for {
		got, err := doneJobs(hc, workURL)
		switch {
		case err != nil:
			return err
		case got >= want:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("-wait-done: %s is %.0f, want %.0f, after -d", doneMetric, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// doneJobs returns the count of jobs done on the server behind workURL, read
// from the /metrics beside it.
func doneJobs(hc *http.Client, workURL string) (float64, error) {
	u, err := url.Parse(workURL)
	if err != nil {
		return 0, fmt.Errorf("-url: %w", err)
	}
	u.Path, u.RawQuery = "/metrics", ""
	resp, err := hc.Get(u.String())
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == doneMetric {
			return strconv.ParseFloat(strings.TrimSpace(value), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("GET %s: no %s line", u, doneMetric)
}
