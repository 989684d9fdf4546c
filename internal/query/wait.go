package query

import (
	"net/http"
	"net/url"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/respond"
)

// maxWait is the longest GET /work/{id}?wait= a client may ask for.
const maxWait = 60 * time.Second

// waitSlack is how long past its wait an answer may take to write before the
// connection is cut: the job's JSON, a few hundred bytes.
const waitSlack = 5 * time.Second

// parseWait returns the wait a GET /work/{id} asks for in its query: 0 for
// none, else a duration in (0, maxWait]. Any other value is a 400.
func parseWait(rawQuery string) (time.Duration, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return 0, respond.BadRequest("the query string is malformed: %v", err)
	}
	vs, ok := q["wait"]
	switch {
	case !ok:
		return 0, nil
	case len(vs) > 1:
		return 0, respond.BadRequest("give wait once, not %d times", len(vs))
	}
	d, err := time.ParseDuration(vs[0])
	if err != nil || d <= 0 || d > maxWait {
		return 0, respond.BadRequest("wait=%s is not a duration above 0s and at most 60s: use one such as wait=30s or wait=500ms", respond.Quote(vs[0]))
	}
	return d, nil
}

// Wait holds the answer to r, a GET of job req with ?wait=D (D above 0 and
// at most 60 s), until req is final, D passes, the client hangs up or
// stopping is closed (a drain that completed or gave up). It waits in the request's own goroutine, woken by
// req's transition: no polling, no goroutine of its own. It moves the
// connection's write deadline past D, so the server's WriteTimeout does not
// cut the wait short. It reports false if it answered
// (400 for a bad wait) or the client is gone; true if the caller should
// answer with the job as it is now.
func Wait(w http.ResponseWriter, r *http.Request, req *job.Job, stopping <-chan struct{}) bool {
	d, err := parseWait(r.URL.RawQuery)
	if err != nil {
		respond.Error(w, http.StatusBadRequest, err.Error())
		return false
	}
	if d == 0 {
		return true
	}
	final := req.Final()
	select {
	case <-final:
		return true
	default:
	}
	// An error is a writer without deadlines: there is nothing to lift.
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d + waitSlack))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-final:
	case <-t.C:
	case <-stopping:
	case <-r.Context().Done():
		return false
	}
	return true
}
