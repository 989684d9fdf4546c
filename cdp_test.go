package main

// A small client of the Chrome DevTools Protocol (CDP), for tests that drive
// headless Chromium: https://chromedevtools.github.io/devtools-protocol/.
// It talks over --remote-debugging-pipe: Chromium reads commands from its
// file descriptor 3 and writes responses and events to its descriptor 4,
// each message one JSON object ended by a NUL byte.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"workqueue/internal/testutil"
)

// cdpTimeout bounds every command: Chromium answers in milliseconds unless
// something is badly wrong.
const cdpTimeout = 30 * time.Second

// cdpMessage is any message on the pipe: a command, its response or an
// event.
type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// cdp is one Chromium process and the connection to it.
type cdp struct {
	cmd    *exec.Cmd
	toCDP  *os.File                  // our end of Chromium's fd 3
	stderr *testutil.SyncBuffer      // Chromium's own log, shown when a test fails
	read   chan struct{}             // closed when the reader goroutine ends (Chromium closed fd 4)
	wmu    sync.Mutex                // serializes writes to toCDP
	mu     sync.Mutex                // guards the fields below
	nextID int64                     // the id of the next command
	calls  map[int64]chan cdpMessage // awaiting their response; each gets one message
	events []cdpMessage              // every event received, in order
}

// findChromium returns the path of a Chromium or Chrome, or "".
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// startChromium starts headless Chromium for the test, or skips the test
// if there is none. The browser is closed when the test ends.
func startChromium(t *testing.T) *cdp {
	t.Helper()
	bin := findChromium()
	if bin == "" {
		t.Skip("no Chromium found (chromium, chromium-browser, google-chrome on PATH, or /usr/bin/chromium): install Debian's chromium to run the browser tests")
	}
	cmdR, cmdW, err := os.Pipe() // commands: we write, Chromium reads as fd 3
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe() // responses and events: Chromium writes as fd 4
	if err != nil {
		t.Fatal(err)
	}
	c := &cdp{toCDP: cmdW, stderr: new(testutil.SyncBuffer), read: make(chan struct{}), calls: make(map[int64]chan cdpMessage)}
	c.cmd = exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "about:blank")
	c.cmd.ExtraFiles = []*os.File{cmdR, outW}
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	cmdR.Close()
	outW.Close()
	go c.readLoop(outR)
	t.Cleanup(func() { c.close(t) })
	return c
}

// readLoop reads messages until Chromium closes its end, handing each
// response to its caller and keeping each event.
func (c *cdp) readLoop(r *os.File) {
	defer close(c.read)
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		b, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m cdpMessage
		if json.Unmarshal(b[:len(b)-1], &m) != nil {
			continue
		}
		c.mu.Lock()
		if m.ID != 0 {
			if ch, ok := c.calls[m.ID]; ok {
				delete(c.calls, m.ID)
				ch <- m // buffered: never blocks
			}
		} else {
			c.events = append(c.events, m)
		}
		c.mu.Unlock()
	}
}

// call sends a command (to a page when session is not "") and returns its
// result, or the error Chromium answered.
func (c *cdp) call(session, method string, params any) (json.RawMessage, error) {
	p, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	ch := make(chan cdpMessage, 1)
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.calls[id] = ch
	c.mu.Unlock()
	b, _ := json.Marshal(cdpMessage{ID: id, SessionID: session, Method: method, Params: p})
	c.wmu.Lock()
	_, err = c.toCDP.Write(append(b, 0))
	c.wmu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	timer := time.NewTimer(cdpTimeout)
	defer timer.Stop()
	select {
	case m := <-ch:
		if m.Error != nil {
			return nil, fmt.Errorf("%s: %s (code %d)", method, m.Error.Message, m.Error.Code)
		}
		return m.Result, nil
	case <-c.read:
		return nil, fmt.Errorf("%s: Chromium exited", method)
	case <-timer.C:
		return nil, fmt.Errorf("%s: no answer in %v", method, cdpTimeout)
	}
}

// eventsOf returns the events received so far with the given method.
func (c *cdp) eventsOf(method string) []cdpMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	var got []cdpMessage
	for _, m := range c.events {
		if m.Method == method {
			got = append(got, m)
		}
	}
	return got
}

// close asks Chromium to exit, and kills it if it does not.
func (c *cdp) close(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.call("", "Browser.close", map[string]any{}) // an error: it is gone already
	select {
	case <-c.read:
	case <-ctx.Done():
		c.cmd.Process.Kill()
		<-c.read
	}
	c.toCDP.Close()
	c.cmd.Wait() // killed or closed: either is fine here
	if t.Failed() {
		t.Logf("Chromium's log:\n%s", tail(c.stderr.String(), 4000))
	}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// cdpPage is one browser tab, attached in flat mode: its commands carry
// its session id.
type cdpPage struct {
	c       *cdp
	session string
}

// newPage opens a tab of the given size in CSS pixels and enables the
// domains the tests watch: Page, Runtime (console calls, exceptions), Log
// and Network (every request).
func (c *cdp) newPage(t *testing.T, width, height int) *cdpPage {
	t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	c.must(t, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	c.must(t, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	p := &cdpPage{c: c, session: attached.SessionID}
	for _, domain := range []string{"Page", "Runtime", "Log", "Network"} {
		c.must(t, p.session, domain+".enable", map[string]any{}, nil)
	}
	c.must(t, p.session, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil)
	return p
}

// must calls method and decodes its result into out (if not nil), failing
// the test on an error.
func (c *cdp) must(t *testing.T, session, method string, params, out any) {
	t.Helper()
	res, err := c.call(session, method, params)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			t.Fatalf("%s: decoding %s: %v", method, res, err)
		}
	}
}

// navigate loads url in the page and waits for its load event.
func (p *cdpPage) navigate(t *testing.T, url string) {
	t.Helper()
	p.c.must(t, p.session, "Page.navigate", map[string]any{"url": url}, nil)
	p.waitFor(t, "the page to load", `document.readyState === "complete"`)
}

// eval evaluates expr in the page, awaiting it if it is a promise, and
// decodes its value into out (if not nil). A script exception is an error.
func (p *cdpPage) eval(expr string, out any) error {
	res, err := p.c.call(p.session, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true})
	if err != nil {
		return err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	if e := r.ExceptionDetails; e != nil {
		return fmt.Errorf("evaluating %q: %s %s", expr, e.Text, e.Exception.Description)
	}
	if out == nil {
		return nil
	}
	if len(r.Result.Value) == 0 {
		return errors.New("evaluating " + strings.TrimSpace(expr) + ": no value")
	}
	return json.Unmarshal(r.Result.Value, out)
}

// mustEval is eval failing the test on an error.
func (p *cdpPage) mustEval(t *testing.T, expr string, out any) {
	t.Helper()
	if err := p.eval(expr, out); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits until the JavaScript expression cond is true in the page,
// failing the test after 15 s. The page itself polls cond every 25 ms, so
// the test sends one command and sleeps on nothing.
func (p *cdpPage) waitFor(t *testing.T, what, cond string) {
	t.Helper()
	expr := `new Promise((resolve) => {
		const until = Date.now() + 15000;
		const check = () => {
			let ok = false;
			try { ok = !!(` + cond + `); } catch (_) {}
			if (ok || Date.now() > until) { resolve(ok); } else { setTimeout(check, 25); }
		};
		check();
	})`
	var ok bool
	if err := p.eval(expr, &ok); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	if !ok {
		t.Fatalf("timed out waiting for %s (%s)", what, cond)
	}
}

// screenshot returns the page as a PNG.
func (p *cdpPage) screenshot(t *testing.T) []byte {
	t.Helper()
	var shot struct {
		Data string `json:"data"`
	}
	p.c.must(t, p.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	b, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("Page.captureScreenshot: not a PNG (%v)", err)
	}
	return b
}
