package job

import (
	"crypto/subtle"
	"time"
)

// lease is a job's claim by a remote worker (POST /work/claim): who holds
// it, the token that proves it, and until when. A job holds a lease only
// while running; token is "" once the attempt is ending (see EndLease), so
// that one party alone ends it.
type lease struct {
	by    string        // the name the remote worker gave: claimed_by
	token string        // the lease's secret, "" when none is held
	until time.Time     // when the lease expires unless renewed
	term  time.Duration // how far a heartbeat moves until on
}

// Claim moves a queued job to running on the remote worker named by, as of
// now, under the lease token for term (it expires at now + term unless
// renewed), with cancel to end the attempt (a DELETE). It counts an
// attempt, as Start does, and reports false, changing nothing, if j is no
// longer queued.
func (j *Job) Claim(by, token string, now time.Time, term time.Duration, cancel func()) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != Queued {
		return false
	}
	j.stopWaiting()
	j.state, j.worker, j.startedAt, j.cancel = Running, 0, now, cancel
	j.remote = lease{by: by, token: token, until: now.Add(term), term: term}
	j.attempts++
	j.retryAt = time.Time{}
	return true
}

// holdsLocked reports whether token is j's current lease: j runs and the
// tokens match, compared in constant time. j.mu is held.
func (j *Job) holdsLocked(token string) bool {
	return j.state == Running && j.remote.token != "" &&
		subtle.ConstantTimeCompare([]byte(j.remote.token), []byte(token)) == 1
}

// Renew extends the lease token to its term from now (a heartbeat), and
// returns when it now expires. It returns j's state and reports false,
// changing nothing, if token is not j's current lease (it expired, j was
// canceled, claimed again, or never so).
func (j *Job) Renew(token string, now time.Time) (until time.Time, s State, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.holdsLocked(token) {
		return time.Time{}, j.state, false
	}
	j.remote.until = now.Add(j.remote.term)
	return j.remote.until, j.state, true
}

// EndLease ends the lease token so that its holder alone may finish the
// attempt (done or fail, through Finish or Requeue): from now on no other
// token, no expiry and no cancel moves j (a cancel is refused as for a job
// whose greeting is being written). It returns j's state and reports false,
// changing nothing, if token is not j's current lease.
func (j *Job) EndLease(token string) (State, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.holdsLocked(token) {
		return j.state, false
	}
	j.remote.token, j.completing, j.cancel = "", true, nil
	return j.state, true
}

// Expire ends the lease token if it has expired as of now, as EndLease
// does, and reports expired. If the lease is still held but renewed past
// now, it reports the time it now expires, for the caller to look again
// then; if token is no longer j's lease, neither (live is false).
func (j *Job) Expire(token string, now time.Time) (until time.Time, expired, live bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.holdsLocked(token) {
		return time.Time{}, false, false
	}
	if now.Before(j.remote.until) {
		return j.remote.until, false, true
	}
	j.remote.token, j.completing, j.cancel = "", true, nil
	return time.Time{}, true, true
}

// ClaimedBy returns the name of the remote worker that claimed j's latest
// attempt, or "" if a local worker ran it or none did.
func (j *Job) ClaimedBy() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.remote.by
}
