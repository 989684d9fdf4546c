package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"workqueue/internal/dashboard"
	"workqueue/internal/events"
)

func TestDashboardFiles(t *testing.T) {
	ts := newTestServer(t, testConfig(), Sleep)
	tests := []struct {
		path, wantType string
		wantStatus     int
	}{
		{"/", "text/html; charset=utf-8", http.StatusOK},
		{"/static/app.js", "text/javascript; charset=utf-8", http.StatusOK},
		{"/static/style.css", "text/css; charset=utf-8", http.StatusOK},
		{"/static/index.html", "application/json", http.StatusNotFound},
		{"/static/", "application/json", http.StatusNotFound},
		{"/app.js", "application/json", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := ts.do("GET", tt.path, "", "")
			if rec.Code != tt.wantStatus || rec.Header().Get("Content-Type") != tt.wantType {
				t.Fatalf("GET %s: %d %q, want %d %q", tt.path, rec.Code, rec.Header().Get("Content-Type"), tt.wantStatus, tt.wantType)
			}
			if rec.Code != http.StatusOK {
				return
			}
			csp := rec.Header().Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("GET %s: Content-Security-Policy %q lacks %q", tt.path, csp, want)
				}
			}
			if strings.Contains(csp, "unsafe") {
				t.Errorf("GET %s: Content-Security-Policy %q allows something unsafe", tt.path, csp)
			}
		})
	}
}

// TestDashboardSource checks what the browser test cannot see: the page
// names no outside resource, has no inline script or style, and its script
// never writes markup.
func TestDashboardSource(t *testing.T) {
	forbidden := []string{"http://", "https://", "//cdn", "<style", "style=", "onclick", "onload=",
		"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("}
	files := dashboard.New().Files()
	fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(files, path)
		for _, f := range forbidden {
			if strings.Contains(string(b), f) {
				t.Errorf("%s holds %q", path, f)
			}
		}
		if strings.Contains(string(b), "<script>") {
			t.Errorf("%s has an inline script", path)
		}
		return nil
	})
}

// metric returns the value of the sample name (labels included) in the
// server's /metrics.
func metric(t *testing.T, ts *testServer, name string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(ts.do("GET", "/metrics", "", "").Body.String()))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return ""
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestDashboardInBrowser(t *testing.T) {
	if findChromium() == "" {
		t.Skip("no Chromium found (chromium, chromium-browser, google-chrome on PATH, or /usr/bin/chromium): install Debian's chromium to run the browser tests")
	}
	cfg := testConfig()
	cfg.Workers, cfg.Queue = 4, 100
	ts := newTestServer(t, cfg, Sleep)
	srv := httptest.NewServer(ts.handler)
	t.Cleanup(srv.Close)
	t.Cleanup(ts.events.Close) // else srv.Close waits for the page's stream
	var beforeID string
	for _, name := range []string{"before-1", "before-2"} {
		rec := ts.submit(name, "0s")
		if rec.Code != http.StatusCreated {
			t.Fatalf("POST /work %s: status = %d, want 201", name, rec.Code)
		}
		if beforeID == "" {
			beforeID = decodeJob(t, rec.Body.Bytes()).ID
		}
	}

	c := startChromium(t)
	p := c.newPage(t, 1280, 900)
	p.navigate(t, srv.URL+"/")
	p.waitFor(t, "the stream to be live", `document.getElementById("conn").dataset.state === "live"`)

	t.Run("jobs submitted before the page opened", func(t *testing.T) {
		if rec := ts.do("GET", "/work?limit=100", "", ""); rec.Code != http.StatusOK {
			t.Fatalf("GET /work: status %d, want 200: the page lists earlier jobs through it", rec.Code)
		}
		p.waitFor(t, "the earlier jobs", `[...document.querySelectorAll("#job-rows tr")].filter(
			(tr) => tr.cells[1].textContent.startsWith("before-") && tr.dataset.state === "done").length === 2`)
	})

	t.Run("numbers match /metrics", func(t *testing.T) {
		p.waitFor(t, "the stats of the earlier jobs", `document.getElementById("n-done").textContent === "2"`)
		for id, sample := range map[string]string{
			"n-accepted": "workqueue_jobs_accepted_total",
			"n-done":     `workqueue_jobs_finished_total{state="done"}`,
			"n-failed":   `workqueue_jobs_finished_total{state="failed"}`,
			"n-canceled": `workqueue_jobs_finished_total{state="canceled"}`,
			"workers":    "workqueue_workers",
			"busy":       "workqueue_workers_busy",
			"qlen":       "workqueue_queue_length",
			"qcap":       "workqueue_queue_capacity",
		} {
			var got string
			p.mustEval(t, `document.getElementById(`+jsString(id)+`).textContent`, &got)
			if want := metric(t, ts, sample); strings.ReplaceAll(got, ",", "") != want {
				t.Errorf("page #%s = %q, want %s from /metrics", id, got, want)
			}
		}
		// The remote workers, once the server counts them.
		if !strings.Contains(ts.do("GET", "/metrics", "", "").Body.String(), "\nworkqueue_remote_waiting ") {
			t.Log("the server counts no remote workers yet: TestDashboardFieldsToCome checks the page shows them")
			return
		}
		p.waitFor(t, "the remote workers", `!document.getElementById("remote").hidden`)
		for id, sample := range map[string]string{"remote-running": "workqueue_remote_running", "remote-waiting": "workqueue_remote_waiting"} {
			var got string
			p.mustEval(t, `document.getElementById(`+jsString(id)+`).textContent`, &got)
			if want := metric(t, ts, sample); got != want {
				t.Errorf("page #%s = %q, want %s from /metrics", id, got, want)
			}
		}
	})

	t.Run("job events update the table in place", func(t *testing.T) {
		// Events the test publishes itself: this checks the page, whatever
		// the server publishes.
		publish := func(id, state string) {
			ts.events.Publish("job", []byte(`{"id":"`+id+`","name":"synthetic `+id+`","delay":"0s","state":"`+state+
				`","enqueued_at":"2026-11-28T10:00:00Z"}`))
		}
		row := `document.querySelector('#job-rows tr[data-id="9001"]')`
		publish("9001", "queued")
		p.waitFor(t, "a queued row with a cancel button", row+`.dataset.state === "queued" && `+row+`.querySelector("button.cancel") !== null`)
		publish("9001", "running")
		publish("9001", "done")
		p.waitFor(t, "the row to turn done", row+`.dataset.state === "done" && `+row+`.querySelector("button.cancel, button.retry") === null`)
		var n int
		p.mustEval(t, `document.querySelectorAll('#job-rows tr[data-id="9001"]').length`, &n)
		if n != 1 {
			t.Errorf("rows for job 9001 = %d, want 1", n)
		}
		publish("9002", "failed")
		p.waitFor(t, "the failed count", `document.getElementById("failed-count").textContent === "1"`)
		p.mustEval(t, `document.getElementById("only-failed").click()`, nil)
		var shown string
		p.mustEval(t, `[...document.querySelectorAll("#job-rows tr")].filter((tr) => getComputedStyle(tr).display !== "none").map((tr) => tr.dataset.id).join()`, &shown)
		if shown != "9002" {
			t.Errorf("rows shown with the failed filter = %q, want 9002", shown)
		}
		p.mustEval(t, `document.getElementById("only-failed").click()`, nil)
	})

	hostile := `<img src=x onerror=alert(1)>`
	var hostileID string
	t.Run("a name is text, never markup", func(t *testing.T) {
		p.mustEval(t, `(() => { document.getElementById("job-name").value = `+jsString(hostile)+`;
			document.getElementById("submit").requestSubmit(); })()`, nil)
		find := `[...document.querySelectorAll("#job-rows tr")].find((tr) => tr.cells[1].firstChild.textContent === ` + jsString(hostile) + `)`
		p.waitFor(t, "the hostile name's row", find+` !== undefined`)
		p.mustEval(t, find+`.dataset.id`, &hostileID)
		var imgs int
		p.mustEval(t, `document.querySelectorAll("img").length`, &imgs)
		if imgs != 0 {
			t.Errorf("the page has %d <img> elements after showing %q, want 0", imgs, hostile)
		}
		if d := c.eventsOf("Page.javascriptDialogOpening"); len(d) != 0 {
			t.Errorf("a dialog opened: %s", d[0].Params)
		}
	})

	t.Run("a job submitted on the page turns done without a reload", func(t *testing.T) {
		if hostileID == "" {
			t.Skip("no job submitted")
		}
		p.waitFor(t, "the job to turn done", `document.querySelector('#job-rows tr[data-id="`+hostileID+`"]').dataset.state === "done"`)
	})

	t.Run("a job's detail is text", func(t *testing.T) {
		if hostileID == "" {
			t.Skip("no job submitted")
		}
		p.waitFor(t, "the job to turn done", `document.querySelector('#job-rows tr[data-id="`+hostileID+`"]').dataset.state === "done"`)
		openDetail(t, p, hostileID)
		field := func(name string) string {
			var got string
			p.mustEval(t, `document.querySelector('#detail [data-field="`+name+`"]')?.textContent ?? "(none)"`, &got)
			return got
		}
		want := decodeJob(t, ts.do("GET", "/work/"+hostileID, "", "").Body.Bytes())
		for name, want := range map[string]string{"name": hostile, "state": "done", "attempts": strconv.Itoa(want.Attempts)} {
			if got := field(name); got != want {
				t.Errorf("detail %s = %q, want %q", name, got, want)
			}
		}
		var stamp string
		p.mustEval(t, `document.querySelector('#detail [data-field="finished_at"] time').dateTime`, &stamp)
		if got, err := time.Parse(time.RFC3339Nano, stamp); err != nil || !got.Equal(want.FinishedAt) {
			t.Errorf("detail finished_at = %q, want %s", stamp, want.FinishedAt.Format(time.RFC3339Nano))
		}
		noMarkup(t, c, p)
		closeDetail(t, p)
	})

	t.Run("a payload is text", func(t *testing.T) {
		body := `{"name":` + jsString(hostile) + `,"payload":{"html":` + jsString(hostile) + `,"n":[1,2]}}`
		rec := ts.do("POST", "/work", "application/json", body)
		if rec.Code != http.StatusCreated {
			t.Fatalf("POST /work %s: status = %d, want 201: %s", body, rec.Code, rec.Body)
		}
		id := decodeJob(t, rec.Body.Bytes()).ID
		p.waitFor(t, "the payload job's row", `document.querySelector('#job-rows tr[data-id="`+id+`"]') !== null`)
		openDetail(t, p, id)
		p.waitFor(t, "the payload, pretty-printed, as text", `document.querySelector('#detail [data-field="payload"] pre')?.textContent ===
			JSON.stringify({html: `+jsString(hostile)+`, n: [1, 2]}, null, 2)`)
		noMarkup(t, c, p)
		closeDetail(t, p)
	})

	t.Run("the retry button shows a refusal as text", func(t *testing.T) {
		// A failed event the test publishes for a job the server has done:
		// the page offers a retry, which the server refuses with 409.
		data := `{"id":"` + beforeID + `","name":"before-1","delay":"0s","state":"failed","error":` + jsString(hostile) +
			`,"attempts":1,"enqueued_at":"2026-11-28T10:00:00Z","finished_at":"2026-11-28T10:00:01Z"}`
		ts.events.Publish("job", []byte(data))
		row := `document.querySelector('#job-rows tr[data-id="` + beforeID + `"]')`
		p.waitFor(t, "a retry button", row+`.querySelector("button.retry") !== null`)
		p.mustEval(t, row+`.querySelector("button.retry").click()`, nil)
		want := "cannot retry job " + beforeID + ": " + decodeError(t, ts.do("POST", "/work/"+beforeID+"/retry", "", "").Body.Bytes())
		if !strings.Contains(want, "only a failed or canceled job") {
			t.Fatalf("the server's refusal: %q, want its 409 for a done job", want)
		}
		p.waitFor(t, "the refusal", `document.getElementById("jobs-msg").textContent === `+jsString(want)+
			` && document.getElementById("jobs-msg").classList.contains("error")`)
		var errText string
		p.mustEval(t, row+`.querySelector(".err").textContent`, &errText)
		if errText != hostile {
			t.Errorf("the row's error = %q, want %q as text", errText, hostile)
		}
		noMarkup(t, c, p)
		ts.events.PublishJob(ts.jobs.Get(beforeID)) // the job as the server has it
		p.waitFor(t, "the row back to done", row+`.dataset.state === "done"`)
	})

	t.Run("a scheduled job shows when it runs", func(t *testing.T) {
		at := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		ts.events.Publish("job", []byte(`{"id":"9010","name":"later","delay":"0s","state":"queued","run_at":"`+at+
			`","enqueued_at":"2026-11-28T10:00:00Z"}`))
		cell := `document.querySelector('#job-rows tr[data-id="9010"]')?.cells[2].querySelector(".when")`
		// The time, with its date unless it is today.
		runs := `(() => { const d = new Date(` + jsString(at) + `);
			return "runs " + (d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString() : d.toLocaleString()); })()`
		p.waitFor(t, "the row's time to run", cell+`?.textContent === `+runs)
		ts.events.Publish("job", []byte(`{"id":"9010","name":"later","delay":"0s","state":"canceled","run_at":"`+at+
			`","enqueued_at":"2026-11-28T10:00:00Z","finished_at":"2026-11-28T10:00:01Z"}`))
		p.waitFor(t, "no time once canceled", `document.querySelector('#job-rows tr[data-id="9010"]').dataset.state === "canceled" && `+cell+` === null`)
		rec := ts.do("POST", "/work", "application/json", `{"name":"scheduled","run_at":"`+at+`"}`)
		if rec.Code != http.StatusCreated {
			t.Fatalf("POST /work with run_at %s: status = %d, want 201: %s", at, rec.Code, rec.Body)
		}
		id := decodeJob(t, rec.Body.Bytes()).ID
		p.waitFor(t, "the scheduled job's time", `document.querySelector('#job-rows tr[data-id="`+id+`"]')?.cells[2].querySelector(".when")?.textContent === `+runs)
		if rec := ts.do("DELETE", "/work/"+id, "", ""); rec.Code != http.StatusOK {
			t.Errorf("DELETE /work/%s: status = %d, want 200", id, rec.Code)
		}
	})

	t.Run("the cancel button cancels", func(t *testing.T) {
		p.mustEval(t, `(() => { document.getElementById("job-name").value = "long";
			document.getElementById("job-delay").value = "9s";
			document.getElementById("submit").requestSubmit(); })()`, nil)
		find := `[...document.querySelectorAll("#job-rows tr")].find((tr) => tr.cells[1].textContent === "long")`
		p.waitFor(t, "the long job's cancel button", find+`.querySelector("button.cancel") !== null`)
		var id string
		p.mustEval(t, find+`.dataset.id`, &id)
		p.mustEval(t, find+`.querySelector("button.cancel").click()`, nil)
		p.waitFor(t, "the row to turn canceled", `document.querySelector('#job-rows tr[data-id="`+id+`"]').dataset.state === "canceled"`)
		if j := decodeJob(t, ts.do("GET", "/work/"+id, "", "").Body.Bytes()); j.State != "canceled" {
			t.Errorf("job %s on the server: state %q, want canceled", id, j.State)
		}
	})

	t.Run("resize control", func(t *testing.T) {
		p.waitFor(t, "the resize control", `!document.getElementById("resize").hidden`)
		for _, n := range []string{"6", "3"} {
			p.mustEval(t, `(() => { const input = document.getElementById("resize-n");
				input.focus(); input.value = `+jsString(n)+`;
				document.querySelector('#resize button[type="submit"]').click(); })()`, nil)
			p.waitFor(t, "the resize to "+n+" to be answered", `document.getElementById("resize-msg").textContent === "target `+n+` workers"`)
			var pool poolDoc
			if err := json.Unmarshal(ts.do("GET", "/workers", "", "").Body.Bytes(), &pool); err != nil {
				t.Fatal(err)
			}
			if strconv.Itoa(pool.Target) != n {
				t.Errorf("after resizing to %s on the page: GET /workers target = %d, want %s", n, pool.Target, n)
			}
			p.waitFor(t, "the page to show "+n+" workers", `document.getElementById("workers").textContent === `+jsString(n))
		}
		p.mustEval(t, `document.activeElement.blur()`, nil)
	})

	if os.Getenv("WORKQUEUE_SCREENSHOT") == "1" {
		screenshot(t, ts, p)
	}
	checkQuiet(t, c, srv.URL, "/work/"+beforeID+"/retry")
}

// openDetail clicks job id's row open and waits for its detail.
func openDetail(t *testing.T, p *cdpPage, id string) {
	t.Helper()
	p.mustEval(t, `document.querySelector('#job-rows tr[data-id="`+id+`"] button.open').click()`, nil)
	p.waitFor(t, "job "+id+"'s detail", `!document.getElementById("detail").hidden &&
		document.getElementById("detail-id").textContent === `+jsString(id)+` &&
		document.querySelector('#detail [data-field="state"]') !== null`)
}

// closeDetail closes the detail with its button.
func closeDetail(t *testing.T, p *cdpPage) {
	t.Helper()
	p.mustEval(t, `document.getElementById("detail-close").click()`, nil)
	p.waitFor(t, "the detail to close", `document.getElementById("detail").hidden`)
}

// noMarkup fails the test if the page holds an element a job's text could
// have made (img, b, i, script beyond the page's own), or opened a dialog.
func noMarkup(t *testing.T, c *cdp, p *cdpPage) {
	t.Helper()
	var n int
	p.mustEval(t, `document.querySelectorAll("img, b, i, body script").length`, &n)
	if n != 0 {
		t.Errorf("the page has %d elements made from a job's text, want 0", n)
	}
	if d := c.eventsOf("Page.javascriptDialogOpening"); len(d) != 0 {
		t.Errorf("a dialog opened: %s", d[0].Params)
	}
}

// checkQuiet fails the test if the page loaded anything from outside the
// server, logged a console error or warning, or threw an exception. The
// browser logs each request answered 4xx or 5xx as an error: those to the
// paths refused, which the test made the server refuse, are not counted.
func checkQuiet(t *testing.T, c *cdp, base string, refused ...string) {
	t.Helper()
	for _, ev := range c.eventsOf("Network.requestWillBeSent") {
		var p struct {
			Request struct{ URL string } `json:"request"`
		}
		json.Unmarshal(ev.Params, &p)
		if u := p.Request.URL; !strings.HasPrefix(u, base+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page requested %s, outside the server", u)
		}
	}
	for _, ev := range c.eventsOf("Runtime.consoleAPICalled") {
		var p struct{ Type string }
		json.Unmarshal(ev.Params, &p)
		if p.Type == "error" || p.Type == "assert" || p.Type == "warning" {
			t.Errorf("console %s: %s", p.Type, ev.Params)
		}
	}
	for _, ev := range c.eventsOf("Runtime.exceptionThrown") {
		t.Errorf("uncaught exception: %s", ev.Params)
	}
	for _, ev := range c.eventsOf("Log.entryAdded") {
		var p struct {
			Entry struct{ Level, Source, Text, URL string } `json:"entry"`
		}
		json.Unmarshal(ev.Params, &p)
		if p.Entry.Level != "error" && p.Entry.Level != "warning" {
			continue
		}
		if p.Entry.Source == "network" && slices.Contains(refused, strings.TrimPrefix(p.Entry.URL, base)) {
			continue
		}
		t.Errorf("console %s (%s): %s %s", p.Entry.Level, p.Entry.Source, p.Entry.Text, p.Entry.URL)
	}
}

// screenshot fills the page with a little traffic and saves it as
// docs/dashboard.png, the README's picture.
func screenshot(t *testing.T, ts *testServer, p *cdpPage) {
	t.Helper()
	for i := range 40 {
		delay := strconv.Itoa(100+i*37%900) + "ms"
		if rec := ts.submit("job-"+strconv.Itoa(i+1), delay); rec.Code != http.StatusCreated {
			t.Fatalf("POST /work: status = %d, want 201", rec.Code)
		}
	}
	p.waitFor(t, "the traffic to be done", `document.getElementById("n-accepted").textContent === "`+
		strconv.FormatInt(ts.stats.Accepted.Load(), 10)+`" && document.getElementById("qlen").textContent === "0" && document.getElementById("busy").textContent === "0"`)
	if err := os.MkdirAll("docs", 0o755); err != nil {
		t.Fatal(err)
	}
	save := func(name string) {
		png := p.screenshot(t)
		if err := os.WriteFile(filepath.Join("docs", name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote docs/%s (%d bytes)", name, len(png))
	}
	save("dashboard.png")
	p.c.must(t, p.session, "Emulation.setEmulatedMedia", map[string]any{
		"features": []map[string]string{{"name": "prefers-color-scheme", "value": "dark"}}}, nil)
	save("dashboard-dark.png")
	if os.Getenv("WORKQUEUE_SCREENSHOT_PHONE") != "" { // for a look, not for the README
		p.c.must(t, p.session, "Emulation.setDeviceMetricsOverride", map[string]any{
			"width": 390, "height": 1600, "deviceScaleFactor": 1, "mobile": true}, nil)
		p.mustEval(t, `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))`, nil)
		png := p.screenshot(t)
		os.WriteFile(os.Getenv("WORKQUEUE_SCREENSHOT_PHONE"), png, 0o644)
	}
}

// TestDashboardReconnects restarts the real binary on the same address
// while the page is open: the page must come back by itself and show the new
// server's numbers.
func TestDashboardReconnects(t *testing.T) {
	if findChromium() == "" {
		t.Skip("no Chromium found (chromium, chromium-browser, google-chrome on PATH, or /usr/bin/chromium): install Debian's chromium to run the browser tests")
	}
	first := startBinary(t)
	c := startChromium(t)
	p := c.newPage(t, 1280, 900)
	p.navigate(t, first.url+"/")
	p.waitFor(t, "the stream to be live", `document.getElementById("conn").dataset.state === "live"`)
	for range 3 {
		if code := first.submit(t, "old", "0s"); code != http.StatusCreated {
			t.Fatalf("POST /work: status = %d, want 201", code)
		}
	}
	p.waitFor(t, "the first server's numbers", `document.getElementById("n-accepted").textContent === "3"`)

	first.signal(t, syscall.SIGTERM)
	if code := first.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("first server: exit status = %d, want 0", code)
	}
	p.waitFor(t, "the page to notice", `document.getElementById("conn").dataset.state !== "live"`)
	second := startBinary(t, "-http", strings.TrimPrefix(first.url, "http://"))
	if code := second.submit(t, "new", "0s"); code != http.StatusCreated {
		t.Fatalf("POST /work: status = %d, want 201", code)
	}
	p.waitFor(t, "the second server's numbers", `document.getElementById("conn").dataset.state === "live" &&
		document.getElementById("n-accepted").textContent === "1"`)
}

// TestDashboardNumbersAfterRestart runs the real binary with -journal and a
// command that fails a "bad" job's first attempt: the page's numbers agree
// with /metrics and with its own table before a restart, after it (when the
// journal's finished jobs are listed but the counters start again from 0),
// and after the failed job is retried with its button.
func TestDashboardNumbersAfterRestart(t *testing.T) {
	if findChromium() == "" {
		t.Skip("no Chromium found (chromium, chromium-browser, google-chrome on PATH, or /usr/bin/chromium): install Debian's chromium to run the browser tests")
	}
	script := `printf '<b>%s</b>\n' "$WORKQUEUE_NAME"; case "$WORKQUEUE_NAME" in bad*) [ "$WORKQUEUE_ATTEMPT" -gt 1 ] || exit 1;; esac`
	dir := t.TempDir()
	args := func(addr string) []string {
		return []string{"-http", addr, "-journal", dir, "-n", "1", "--", "/bin/sh", "-c", script}
	}
	first := startBinary(t, args("127.0.0.1:0")...)
	bad := "bad <img src=x onerror=alert(1)>"
	code, badID, body := first.postValues(t, url.Values{"name": {bad}, "retries": {"0"}})
	if code != http.StatusCreated {
		t.Fatalf("POST %q: %d %s", bad, code, body)
	}
	first.waitState(t, badID, "failed")
	code, fineID := first.post(t, "fine", "0s")
	if code != http.StatusCreated {
		t.Fatalf("POST fine: status %d, want 201", code)
	}
	first.waitState(t, fineID, "done")

	c := startChromium(t)
	p := c.newPage(t, 1280, 900)
	p.navigate(t, first.url+"/")
	p.waitFor(t, "the stream to be live", `document.getElementById("conn").dataset.state === "live"`)
	checkNumbers(t, p, first, 0)

	t.Run("the failed job's detail", func(t *testing.T) {
		openDetail(t, p, badID)
		j, _ := first.getJob(t, badID)
		if j.Output == nil || j.Error == "" {
			t.Fatalf("job %s: %+v, want an output and an error", badID, j)
		}
		for field, want := range map[string]string{"name": bad, "state": "failed", "attempts": "1", "error": j.Error, "output": *j.Output} {
			var got string
			p.mustEval(t, `document.querySelector('#detail [data-field="`+field+`"]')?.textContent ?? "(none)"`, &got)
			if got != want {
				t.Errorf("detail %s = %q, want %q", field, got, want)
			}
		}
		noMarkup(t, c, p)
		closeDetail(t, p)
	})

	first.signal(t, syscall.SIGTERM)
	if code := first.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("first server: exit status = %d, want 0\nstderr:\n%s", code, first.stderr)
	}
	second := startBinary(t, args(strings.TrimPrefix(first.url, "http://"))...)
	p.waitFor(t, "the second server's counters", `document.getElementById("conn").dataset.state === "live" &&
		document.getElementById("n-failed").textContent === "0" && document.getElementById("n-done").textContent === "0"`)
	checkNumbers(t, p, second, 2)

	row := `document.querySelector('#job-rows tr[data-id="` + badID + `"]')`
	p.mustEval(t, row+`.querySelector("button.retry").click()`, nil)
	p.waitFor(t, "the retried job to be done", row+`.dataset.state === "done" && !`+row+`.classList.contains("earlier")`)
	if j, _ := second.getJob(t, badID); j.State != "done" || j.Attempts != 2 {
		t.Errorf("job %s on the server after the retry: %+v, want done after 2 attempts", badID, j)
	}
	p.waitFor(t, "the retried job's finish in the counters", `document.getElementById("n-done").textContent === "1"`)
	checkNumbers(t, p, second, 1)
	checkQuiet(t, c, first.url)
}

// checkNumbers checks that the page's numbers agree with srv's /metrics and
// with each other: each of the counters done, failed and canceled (since the
// server started) is the number of listed jobs in that state not marked
// earlier (finished before the start); the failed filter counts the listed
// failed jobs; the line above the counters says how many are earlier, and
// earlier of them are. It holds while nothing has been retried since the start.
func checkNumbers(t *testing.T, p *cdpPage, srv *proc, earlier int) {
	t.Helper()
	resp, err := http.Get(srv.url + "/work")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct{ Jobs []json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"n-accepted": srv.metric(t, "workqueue_jobs_accepted_total")}
	cond := `document.getElementById("n-accepted").textContent === "` + strconv.FormatInt(want["n-accepted"], 10) + `"`
	for _, s := range []string{"done", "failed", "canceled"} {
		want["n-"+s] = srv.metric(t, `workqueue_jobs_finished_total{state="`+s+`"}`)
		cond += ` && document.getElementById("n-` + s + `").textContent === "` + strconv.FormatInt(want["n-"+s], 10) + `"`
	}
	// The counters come with the stream, the rows with the listing or after
	// a reset: wait for both.
	cond += ` && document.querySelectorAll("#job-rows tr").length === ` + strconv.Itoa(len(list.Jobs))
	p.waitFor(t, fmt.Sprintf("the counters of /metrics %v and the %d jobs listed", want, len(list.Jobs)), cond)
	var got struct {
		Counted, Listed map[string]int
		Earlier, Filter int
		Since           string
	}
	p.mustEval(t, `(() => {
		const rows = [...document.querySelectorAll("#job-rows tr")];
		const counted = {}, listed = {};
		for (const s of ["done", "failed", "canceled"]) {
			counted[s] = rows.filter((tr) => tr.dataset.state === s && !tr.classList.contains("earlier")).length;
			listed[s] = rows.filter((tr) => tr.dataset.state === s).length;
		}
		return { counted, listed,
			earlier: rows.filter((tr) => tr.classList.contains("earlier") && tr.cells[2].querySelector(".tag")?.textContent === "earlier").length,
			filter: Number(document.getElementById("failed-count").textContent),
			since: document.getElementById("since").textContent };
	})()`, &got)
	for _, s := range []string{"done", "failed", "canceled"} {
		if int64(got.Counted[s]) != want["n-"+s] {
			t.Errorf("the page counts %d %s since the start, but lists %d %s jobs finished since then", want["n-"+s], s, got.Counted[s], s)
		}
	}
	if got.Filter != got.Listed["failed"] {
		t.Errorf("the failed filter says %d, but %d failed jobs are listed", got.Filter, got.Listed["failed"])
	}
	if got.Earlier != earlier {
		t.Errorf("%d listed jobs marked earlier, want %d", got.Earlier, earlier)
	}
	if !strings.HasPrefix(got.Since, "Counted since the server started, ") {
		t.Errorf("the counters' caption %q does not say since when they count", got.Since)
	}
	if wantText := fmt.Sprintf(" %d job", earlier); (earlier > 0) != strings.Contains(got.Since, wantText) {
		t.Errorf("the counters' caption %q, want it to say %d jobs listed finished before the start", got.Since, earlier)
	}
}

// TestDashboardFieldsToCome serves the page from a stand-in server whose
// jobs and stats carry every field the page knows, those the server does
// not send yet included (a remote worker's claim and lease, a dropped
// payload, the remote workers' counts) and one it does not know: the page
// shows each, as text, whatever the real server sends today.
func TestDashboardFieldsToCome(t *testing.T) {
	if findChromium() == "" {
		t.Skip("no Chromium found (chromium, chromium-browser, google-chrome on PATH, or /usr/bin/chromium): install Debian's chromium to run the browser tests")
	}
	hostile := `<img/src=x/onerror=alert(1)>` // visible ASCII: a remote worker may take it as its name
	lease := time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)
	jobs := map[string]string{
		"a-7": `{"id":"a-7","name":"leased","delay":"0s","state":"running","attempts":2,"claimed_by":` + jsString(hostile) +
			`,"lease_expires_at":"` + lease + `","run_at":"2026-11-28T09:00:00Z","enqueued_at":"2026-11-28T08:00:00Z",` +
			`"started_at":"2026-11-28T09:00:01Z","payload":{"w":640,"tag":` + jsString(hostile) + `},"node":"a",` +
			`"output":"…tail","output_truncated":true}`,
		"a-6": `{"id":"a-6","name":"old","delay":"0s","state":"done","attempts":1,"enqueued_at":"2026-11-28T08:00:00Z",` +
			`"started_at":"2026-11-28T08:00:01Z","finished_at":"2026-11-28T08:00:02Z","payload_dropped":true}`,
	}
	stats := `{"queue_length":0,"queue_capacity":10,"workers":0,"busy":0,"accepted":2,"done":1,"canceled":0,"failed":0,` +
		`"remote_waiting":3,"remote_running":1,"started_at":"2026-11-28T07:00:00Z"}`
	hub := events.New(func() []byte { return []byte(stats) })
	mux := http.NewServeMux()
	d := dashboard.New()
	mux.Handle("GET /{$}", d)
	mux.Handle("GET /static/", d)
	mux.Handle("GET /events", hub)
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// A listing carries payload_bytes, not the payload.
		io.WriteString(w, `{"jobs":[`+strings.Replace(jobs["a-7"], `"payload":{"w":640,"tag":`+jsString(hostile)+`}`, `"payload_bytes":44`, 1)+`,`+jobs["a-6"]+`]}`)
	})
	mux.HandleFunc("GET /work/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, jobs[r.PathValue("id")])
	})
	mux.HandleFunc("GET /workers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"workers":0,"busy":0,"target":0,"remote_waiting":3,"remote_running":1}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(hub.Close)

	c := startChromium(t)
	p := c.newPage(t, 1280, 900)
	p.navigate(t, srv.URL+"/")
	p.waitFor(t, "the remote workers", `!document.getElementById("remote").hidden &&
		document.getElementById("remote-running").textContent === "1" && document.getElementById("remote-waiting").textContent === "3" &&
		document.getElementById("workers-what").textContent === "local: busy / total"`)
	p.waitFor(t, "the leased job's row", `document.querySelector('#job-rows tr[data-id="a-7"]')?.cells[3].textContent === `+jsString(hostile))
	var when int
	p.mustEval(t, `document.querySelectorAll("#job-rows .when").length`, &when)
	if when != 0 {
		t.Errorf("%d rows say when they run, want 0: a run_at past is now", when)
	}

	field := func(name string) string {
		var got string
		p.mustEval(t, `document.querySelector('#detail [data-field="`+name+`"]')?.textContent ?? "(none)"`, &got)
		return got
	}
	openDetail(t, p, "a-7")
	var payload bool
	p.mustEval(t, `document.querySelector('#detail [data-field="payload"] pre')?.textContent ===
		JSON.stringify({w: 640, tag: `+jsString(hostile)+`}, null, 2)`, &payload)
	if !payload {
		t.Errorf("detail payload = %q, want it pretty-printed", field("payload"))
	}
	for name, want := range map[string]string{"claimed_by": hostile, "attempts": "2", "node": "a",
		"output": "its beginning was cut: the newest part is kept…tail"} {
		if got := field(name); got != want {
			t.Errorf("detail %s = %q, want %q", name, got, want)
		}
	}
	for name, want := range map[string]string{"lease_expires_at": lease, "run_at": "2026-11-28T09:00:00Z"} {
		var got string
		p.mustEval(t, `document.querySelector('#detail [data-field="`+name+`"] time')?.dateTime ?? "(none)"`, &got)
		if got != want {
			t.Errorf("detail %s's time = %q, want %q", name, got, want)
		}
	}
	noMarkup(t, c, p)
	if path := os.Getenv("WORKQUEUE_SCREENSHOT_DETAIL"); path != "" { // for a look, not for the README
		os.WriteFile(path, p.screenshot(t), 0o644)
	}

	openDetail(t, p, "a-6") // from one detail straight to another
	if got := field("payload_dropped"); !strings.HasPrefix(got, "dropped") {
		t.Errorf("detail of a job whose payload was dropped: %q, want it said", got)
	}
	if got := field("payload"); got != "(none)" {
		t.Errorf("detail payload of a-6 = %q, want none", got)
	}
	var earlier bool
	p.mustEval(t, `document.querySelector('#job-rows tr[data-id="a-6"]').classList.contains("earlier")`, &earlier)
	if earlier {
		t.Error("a-6, finished after the server's start, is marked earlier")
	}
	p.mustEval(t, `document.dispatchEvent(new KeyboardEvent("keydown", {key: "Escape"}))`, nil)
	p.waitFor(t, "Escape to close the detail", `document.getElementById("detail").hidden`)
	checkQuiet(t, c, srv.URL)
}
