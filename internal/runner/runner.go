// Package runner is a remote worker (workqueue -remote URL -- COMMAND): N
// loops that each claim a job from the server over plain HTTP, run COMMAND
// for it exactly as a local worker would (internal/command), heartbeat its
// lease, and report done or fail, retrying a report until it is answered
// or the lease is gone.
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"workqueue/internal/command"
)

// Timings of the runner (SPEC "Remote workers").
const (
	ClaimWait  = 30 * time.Second // how long each claim waits for a job
	MaxBackoff = 30 * time.Second // longest pause while the server cannot be reached
	// callTimeout bounds every call but the claim, which waits ClaimWait more.
	callTimeout = 10 * time.Second
)

// Runner runs Workers remote workers of the server at URL.
type Runner struct {
	URL             string           // the server, such as http://127.0.0.1:8000, no trailing slash
	Workers         int              // how many jobs run at once, 1 or more
	Command         *command.Command // what each job runs
	ShutdownTimeout time.Duration    // how long running commands may finish after the stop
	Lease           time.Duration    // the lease each claim asks for; 0 for the server's default
	Token           string           // sent as Authorization: Bearer, if not ""
	Client          *http.Client     // nil for one of its own
	Log             *slog.Logger

	unreported atomic.Int64 // attempts whose outcome the server never got
}

// Run claims and runs jobs until stop ends (the first signal). Then it
// claims no more, lets running commands finish within ShutdownTimeout (or
// until force ends, a second signal), ends those still running and reports
// them failed. It returns nil if every attempt it started was reported.
func (rn *Runner) Run(stop, force context.Context) error {
	if rn.Client == nil {
		rn.Client = &http.Client{}
	}
	// Commands run under work, which ends ShutdownTimeout after stop, or at force.
	work, endWork := context.WithCancelCause(context.Background())
	defer endWork(nil)
	go func() {
		select {
		case <-stop.Done():
		case <-work.Done():
			return
		}
		t := time.NewTimer(rn.ShutdownTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			endWork(fmt.Errorf("the remote worker stopped: -shutdown-timeout %s exceeded", rn.ShutdownTimeout))
		case <-force.Done():
			endWork(errors.New("the remote worker stopped: second signal"))
		case <-work.Done():
		}
	}()
	rn.Log.Info("remote worker started", "server", rn.URL, "workers", rn.Workers)
	var wg sync.WaitGroup
	for i := range rn.Workers {
		wg.Go(func() { rn.loop(stop, work, force, i+1) })
	}
	wg.Wait()
	if n := rn.unreported.Load(); n > 0 {
		return fmt.Errorf("%d job outcomes could not be reported to %s", n, rn.URL)
	}
	rn.Log.Info("remote worker stopped", "server", rn.URL)
	return nil
}

// claimed is the body of a 200 to POST /work/claim.
type claimed struct {
	Job struct {
		ID       string          `json:"id"`
		Name     string          `json:"name"`
		Delay    string          `json:"delay"`
		Attempts int             `json:"attempts"`
		Timeout  string          `json:"timeout"`
		Payload  json.RawMessage `json:"payload"`
	} `json:"job"`
	Lease          string    `json:"lease"`
	LeaseExpiresAt time.Time `json:"lease_expires_at"`
}

// loop is one remote worker: claim, run, report, until stop ends.
func (rn *Runner) loop(stop, work, force context.Context, n int) {
	name := workerName(n)
	backoff := time.Duration(0)
	for stop.Err() == nil {
		c, err := rn.claim(stop, name)
		switch {
		case stop.Err() != nil:
			return // a claim cut short takes nothing
		case err != nil:
			backoff = min(max(2*backoff, 500*time.Millisecond), MaxBackoff)
			rn.Log.Warn("cannot claim a job; trying again", "server", rn.URL, "err", err, "in", backoff)
			sleep(stop, jitter(backoff))
			continue
		}
		backoff = 0
		if c != nil {
			rn.run(work, force, c)
		}
	}
}

// workerName is the name worker n gives the server: host-pid-n.
func workerName(n int) string {
	host, _ := os.Hostname()
	name := fmt.Sprintf("%s-%d-%d", host, os.Getpid(), n)
	if len(name) > 64 {
		name = name[len(name)-64:]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e {
			return '-'
		}
		return r
	}, name)
}

// claim asks for a job, waiting up to ClaimWait; nil, nil when none came.
func (rn *Runner) claim(ctx context.Context, name string) (*claimed, error) {
	ctx, cancel := context.WithTimeout(ctx, ClaimWait+callTimeout)
	defer cancel()
	v := url.Values{"wait": {ClaimWait.String()}, "worker": {name}}
	if rn.Lease > 0 {
		v.Set("lease", rn.Lease.String())
	}
	status, body, err := rn.post(ctx, "/work/claim", v)
	switch {
	case err != nil:
		return nil, err
	case status == http.StatusNoContent:
		return nil, nil
	case status != http.StatusOK:
		return nil, fmt.Errorf("POST /work/claim: %d %s", status, strings.TrimSpace(string(body)))
	}
	var c claimed
	if err := json.Unmarshal(body, &c); err != nil || c.Lease == "" {
		return nil, fmt.Errorf("POST /work/claim: an answer that is not a claim: %.200s", body)
	}
	return &c, nil
}

// errCanceled is why a job's command is ended when its heartbeat is 409.
var errCanceled = errors.New("the job was canceled, or its lease lost")

// run runs the command for c, heartbeating its lease, and reports how it ended.
func (rn *Runner) run(work, force context.Context, c *claimed) {
	id := c.Job.ID
	log := rn.Log.With("id", id)
	log.Info("job claimed", "attempt", c.Job.Attempts)
	ctx, cancel := context.WithCancelCause(work)
	defer cancel(nil)
	term := time.Until(c.LeaseExpiresAt)
	var expires atomic.Int64 // when the lease expires, as the server last said
	expires.Store(c.LeaseExpiresAt.UnixNano())
	beating := make(chan struct{})
	var hb sync.WaitGroup
	hb.Go(func() { rn.heartbeat(cancel, beating, c, term, &expires) })

	var timeout time.Duration
	if c.Job.Timeout != "" {
		timeout, _ = time.ParseDuration(c.Job.Timeout)
	}
	var (
		out       []byte
		truncated bool
		err       error
	)
	if d, _ := time.ParseDuration(c.Job.Delay); d > 0 && c.Job.Attempts <= 1 { // as a local worker waits out the delay
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			err = context.Cause(ctx)
		}
		t.Stop()
	}
	if err == nil {
		out, truncated, err = rn.Command.Run(ctx, command.Job{ID: id, Name: c.Job.Name, Attempt: c.Job.Attempts, Timeout: timeout, Payload: c.Job.Payload})
	}
	close(beating)
	hb.Wait()
	if errors.Is(context.Cause(ctx), errCanceled) {
		log.Info("job canceled while running: not reported", "err", err)
		return
	}
	v := url.Values{"lease": {c.Lease}}
	if len(out) > 0 || truncated {
		v.Set("output", string(out))
	}
	call := "/work/" + url.PathEscape(id) + "/done"
	if err != nil {
		call = "/work/" + url.PathEscape(id) + "/fail"
		v.Set("error", err.Error())
		var nr interface{ NoRetry() bool }
		if errors.As(err, &nr) && nr.NoRetry() {
			v.Set("retry", "false")
		}
	}
	rn.report(force, log, call, v, &expires)
}

// heartbeat renews c's lease every third of its term until beating is
// closed; a 409 means the lease is gone (the job canceled, or expired):
// the command is ended with errCanceled.
func (rn *Runner) heartbeat(cancel context.CancelCauseFunc, beating <-chan struct{}, c *claimed, term time.Duration, expires *atomic.Int64) {
	every := max(term/3, 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	v := url.Values{"lease": {c.Lease}}
	for {
		select {
		case <-beating:
			return
		case <-t.C:
		}
		callCtx, done := context.WithTimeout(context.Background(), min(every, callTimeout))
		status, body, err := rn.post(callCtx, "/work/"+url.PathEscape(c.Job.ID)+"/heartbeat", v)
		done()
		switch {
		case err != nil:
			rn.Log.Warn("heartbeat failed; trying again", "id", c.Job.ID, "err", err)
		case status == http.StatusOK:
			var a struct {
				LeaseExpiresAt time.Time `json:"lease_expires_at"`
			}
			if json.Unmarshal(body, &a) == nil {
				expires.Store(a.LeaseExpiresAt.UnixNano())
			}
		case status == http.StatusConflict || status == http.StatusNotFound:
			rn.Log.Warn("lease lost; ending the command", "id", c.Job.ID, "answer", strings.TrimSpace(string(body)))
			cancel(errCanceled)
			return
		default:
			rn.Log.Warn("heartbeat refused; trying again", "id", c.Job.ID, "status", status, "answer", strings.TrimSpace(string(body)))
		}
	}
}

// report sends the outcome v to call, retrying with backoff until the
// server answers it, the lease has expired (the server has ended the
// attempt itself), or force ends.
func (rn *Runner) report(force context.Context, log *slog.Logger, call string, v url.Values, expires *atomic.Int64) {
	backoff := 100 * time.Millisecond
	for {
		ctx, done := context.WithTimeout(force, callTimeout)
		status, body, err := rn.post(ctx, call, v)
		done()
		switch {
		case err == nil && status == http.StatusOK:
			log.Info("job reported", "call", call[strings.LastIndexByte(call, '/')+1:])
			return
		case err == nil && (status == http.StatusConflict || status == http.StatusNotFound):
			log.Warn("report refused: the lease is gone", "status", status, "answer", strings.TrimSpace(string(body)))
			return
		case err == nil && status == http.StatusBadRequest:
			log.Error("report refused", "status", status, "answer", strings.TrimSpace(string(body)))
			rn.unreported.Add(1)
			return
		case err == nil:
			err = fmt.Errorf("%d %s", status, strings.TrimSpace(string(body)))
		}
		if force.Err() != nil || time.Now().UnixNano() > expires.Load() {
			log.Error("could not report the job before its lease expired", "err", err)
			rn.unreported.Add(1)
			return
		}
		log.Warn("could not report the job; trying again", "err", err, "in", backoff)
		sleep(force, jitter(backoff))
		backoff = min(2*backoff, MaxBackoff)
	}
}

// post sends the form v to path and returns the status and body.
func (rn *Runner) post(ctx context.Context, path string, v url.Values) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rn.URL+path, strings.NewReader(v.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if rn.Token != "" {
		req.Header.Set("Authorization", "Bearer "+rn.Token) // never logged
	}
	resp, err := rn.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// jitter returns d ±20 %.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// ReadToken returns the first token of the file at path (-token-file): its
// first line that is neither blank nor a comment (#), trimmed.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			return t, nil
		}
	}
	return "", fmt.Errorf("-token-file %s holds no token", path)
}
