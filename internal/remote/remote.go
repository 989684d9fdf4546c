// Package remote serves the remote workers' side of the API: a claim
// (POST /work/claim) makes the claimant one more idle worker in
// WorkerQueue for its wait, and the job the dispatcher hands it runs under
// a lease that its heartbeats renew and its done or fail ends; a lease that
// expires ends the attempt as failed, retried as any other.
//
// Every change of a job's state goes through lifecycle; the lease itself
// lives in the job (job.Job.Claim, Renew, EndLease, Expire), so that a
// stale token changes nothing however calls race.
package remote

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/jobjournal"
	"workqueue/internal/lifecycle"
	"workqueue/internal/metrics"
	"workqueue/internal/pool"
	"workqueue/internal/queue"
	"workqueue/internal/respond"
	"workqueue/internal/retry"
	"workqueue/internal/store"
	"workqueue/internal/submit"
)

// Bounds of a claim's parameters (SPEC "Remote workers").
const (
	MaxWait      = 60 * time.Second // longest wait a claim may ask for
	MinLease     = time.Second      // shortest lease
	MaxLease     = time.Hour        // longest lease
	DefaultLease = 60 * time.Second // lease when the claim names none
	MaxWorkerLen = 64               // longest worker name, in bytes of visible ASCII
	// OutputLimit is how much of a reported output a job keeps: the last
	// 4 KiB, as of a local command's.
	OutputLimit = 4 << 10
)

// ErrLeaseExpired is the error of an attempt whose lease was not renewed in time.
var ErrLeaseExpired = errors.New("lease expired")

// Server answers the remote workers. Its fields are set before it serves
// and never change; call Start before the first claim.
type Server struct {
	Pool     *pool.Pool
	Queue    *queue.Queue
	Jobs     *store.Store
	Life     *lifecycle.Effects
	Retry    *retry.Retrier
	Attempts *metrics.Attempts
	Journal  *jobjournal.Log // nil without -journal
	Log      *slog.Logger

	leases  leases
	running atomic.Int64  // jobs leased now
	expired atomic.Int64  // leases that expired, ever
	idle    chan struct{} // told when running falls to 0
}

// Start readies s to serve.
func (s *Server) Start() {
	s.idle = make(chan struct{}, 1)
	s.leases.expire = s.expire
}

// Running returns how many jobs remote workers hold a lease on now.
func (s *Server) Running() int64 { return s.running.Load() }

// Expired returns how many leases have expired since the server started.
func (s *Server) Expired() int64 { return s.expired.Load() }

// ended counts one lease less, and tells Wait when none is left.
func (s *Server) ended() {
	if s.running.Add(-1) == 0 {
		select {
		case s.idle <- struct{}{}:
		default:
		}
	}
}

// Wait returns nil once no job is leased, or ctx's error if it ends first:
// the drain waits so for the remote workers' running jobs.
func (s *Server) Wait(ctx context.Context) error {
	for s.running.Load() > 0 {
		select {
		case <-s.idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Abandon ends the attempts of every leased job as abandoned with err, for
// a drain that gave up: with -journal nothing is journaled, so the journal
// keeps them running and the next start runs them again. No lease expires
// after.
func (s *Server) Abandon(err error) {
	now := time.Now()
	for _, r := range s.leases.take() {
		s.ended()
		if s.Life.Journaled() {
			s.Life.Abandon(r, now, err.Error())
		} else {
			s.Life.Finish(r, job.Failed, now, err.Error())
		}
	}
}

// claimKeys are the parameters of POST /work/claim.
var claimKeys = []string{"wait", "lease", "worker"}

// Claim handles POST /work/claim: 200 with the job, its lease and when the
// lease expires; 204 when no job came within the wait; 400 for a bad
// parameter; 503 while draining with nothing left, once the journal
// failed, or with too many claims waiting.
func (s *Server) Claim(w http.ResponseWriter, r *http.Request) {
	p, err := submit.Fields(w, r, "POST /work/claim", claimKeys...)
	if err != nil {
		refuse(w, r, err)
		return
	}
	wait, err := duration(p, "wait", 0, 0, MaxWait)
	if err == nil {
		var term time.Duration
		term, err = duration(p, "lease", DefaultLease, MinLease, MaxLease)
		if err == nil {
			var by string
			if by, err = workerName(p, r); err == nil {
				s.claim(w, r, wait, term, by)
				return
			}
		}
	}
	refuse(w, r, err)
}

// claim waits up to wait for a job for the worker by, and leases it for term.
func (s *Server) claim(w http.ResponseWriter, r *http.Request, wait, term time.Duration, by string) {
	if err := s.Journal.Err(); err != nil {
		respond.Error(w, http.StatusServiceUnavailable, "cannot claim a job: "+err.Error())
		return
	}
	if s.Queue.Closed() && s.Queue.Len() == 0 {
		draining(w)
		return
	}
	deadline := time.Now().Add(wait)
	for {
		j, err := s.Pool.Claim(r.Context(), time.Until(deadline))
		switch {
		case errors.Is(err, pool.ErrClosed):
			draining(w)
			return
		case errors.Is(err, pool.ErrTooManyClaims):
			w.Header().Set("Retry-After", "1")
			respond.Error(w, http.StatusServiceUnavailable, err.Error()+": try again")
			return
		case err != nil: // the client hung up: it took nothing
			return
		case j == nil:
			w.WriteHeader(http.StatusNoContent)
			return
		}
		token := newToken()
		now := time.Now()
		s.running.Add(1)
		ack, ok := s.Life.Claim(j, by, token, now, term, s.ended)
		if !ok { // canceled while it waited: wait on for the next
			s.ended()
			if time.Until(deadline) > 0 {
				continue
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		s.leases.add(j, token, now.Add(term))
		if err := <-orNil(ack); err != nil {
			respond.Error(w, http.StatusServiceUnavailable, "the claim of job "+j.ID+" could not be journaled: "+err.Error())
			return
		}
		v := j.Snapshot()
		b := respond.AppendJob(append(make([]byte, 0, 512), `{"job":`...), &v)
		b = b[:len(b)-1] // AppendJob's newline
		b = respond.AppendString(append(b, `,"lease":`...), token)
		b = respond.AppendTime(append(b, `,"lease_expires_at":`...), v.LeaseUntil)
		respond.JSON(w, http.StatusOK, append(b, "}\n"...))
		return
	}
}

// orNil returns ack, or a channel that answers nil at once if ack is nil
// (no journal).
func orNil(ack <-chan error) <-chan error {
	if ack != nil {
		return ack
	}
	c := make(chan error, 1)
	c <- nil
	return c
}

// newToken returns a lease token: 128 bits from crypto/rand, not
// guessable, URL-safe.
func newToken() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Heartbeat handles POST /work/<id>/heartbeat: the lease runs on for its
// term from now; 200 {"lease_expires_at"}; 409 for a stale lease; 404 for an
// unknown job.
func (s *Server) Heartbeat(w http.ResponseWriter, r *http.Request) {
	j, token, _, ok := s.leased(w, r, "heartbeat", "lease")
	if !ok {
		return
	}
	until, st, ok := j.Renew(token, time.Now())
	if !ok {
		stale(w, j, st)
		return
	}
	b := respond.AppendTime(append(make([]byte, 0, 64), `{"lease_expires_at":`...), until.UTC())
	respond.JSON(w, http.StatusOK, append(b, "}\n"...))
}

// Done handles POST /work/<id>/done: the job is done, with the output
// reported (the last OutputLimit bytes kept); 200 with the job once the
// finish is durable.
func (s *Server) Done(w http.ResponseWriter, r *http.Request) {
	j, token, p, ok := s.leased(w, r, "done", "lease", "output")
	if !ok {
		return
	}
	if !s.end(w, j, token, p["output"]) {
		return
	}
	s.Attempts.Done.Add(1)
	if _, err := s.Life.FinishDurable(j, job.Done, time.Now(), ""); err != nil {
		respond.Error(w, http.StatusServiceUnavailable, "the finish of job "+j.ID+" could not be journaled: "+err.Error())
		return
	}
	respond.Job(w, http.StatusOK, j)
}

// Fail handles POST /work/<id>/fail: a failed attempt, with error (required)
// and output, retried as any other unless retry=false or its retries are
// spent; 200 with the job.
func (s *Server) Fail(w http.ResponseWriter, r *http.Request) {
	j, token, p, ok := s.leased(w, r, "fail", "lease", "error", "output", "retry")
	if !ok {
		return
	}
	msg := p["error"]
	if msg == "" {
		respond.Error(w, http.StatusBadRequest, "error is required: say why the attempt failed (error=...)")
		return
	}
	again := true
	if v, given := p["retry"]; given {
		b, err := strconv.ParseBool(v)
		if err != nil {
			respond.Error(w, http.StatusBadRequest, "retry "+respond.Quote(v)+" is not true or false")
			return
		}
		again = b
	}
	if !s.end(w, j, token, p["output"]) {
		return
	}
	if err := s.failed(j, errors.New(msg), again, true); err != nil {
		respond.Error(w, http.StatusServiceUnavailable, "the failure of job "+j.ID+" could not be journaled: "+err.Error())
		return
	}
	respond.Job(w, http.StatusOK, j)
}

// leased reads the parameters keys of a call on the job at {id}, answering
// 404 for an unknown job and 400 for bad parameters or no lease, and 503
// once the journal failed: then nothing is changed.
func (s *Server) leased(w http.ResponseWriter, r *http.Request, call string, keys ...string) (j *job.Job, token string, p map[string]string, ok bool) {
	id := r.PathValue("id")
	j = s.Jobs.Get(id)
	if j == nil {
		respond.CloseUnread(w, r)
		respond.Error(w, http.StatusNotFound, "no job "+respond.Quote(id))
		return nil, "", nil, false
	}
	p, err := submit.Fields(w, r, "POST /work/<id>/"+call, keys...)
	if err != nil {
		refuse(w, r, err)
		return nil, "", nil, false
	}
	if token = p["lease"]; token == "" {
		respond.Error(w, http.StatusBadRequest, "lease is required: give the lease token the claim answered (lease=...)")
		return nil, "", nil, false
	}
	if err := s.Journal.Err(); err != nil && call != "heartbeat" {
		respond.Error(w, http.StatusServiceUnavailable, "cannot record the "+call+" of job "+j.ID+": "+err.Error())
		return nil, "", nil, false
	}
	return j, token, p, true
}

// end ends the lease token of j, keeping output as its output, or answers
// 409 if token is not j's current lease.
func (s *Server) end(w http.ResponseWriter, j *job.Job, token, output string) bool {
	st, ok := j.EndLease(token)
	if !ok {
		stale(w, j, st)
		return false
	}
	s.ended()
	if output != "" {
		out, cut := []byte(output), false
		if len(out) > OutputLimit {
			out, cut = out[len(out)-OutputLimit:], true
		}
		j.SetOutput(out, cut)
	}
	return true
}

// failed ends j's attempt, its lease ended, as failed with err: retried
// after its backoff if again and its retries allow, else failed, durably
// if durable.
func (s *Server) failed(j *job.Job, err error, again, durable bool) error {
	s.Attempts.Count(err)
	if again && j.RetriesUsed() <= j.Policy.RetriesOr(s.Retry.Max()) {
		if at, ok := s.Retry.Wait(j, err); ok && !at.IsZero() {
			s.Log.Warn("job attempt failed; will retry", "id", j.ID, "attempt", j.Attempts(), "err", err, "retry_at", at.UTC(), "claimed_by", j.ClaimedBy())
		}
		return nil
	}
	now := time.Now()
	if !durable {
		s.Life.Finish(j, job.Failed, now, err.Error())
		return nil
	}
	_, jerr := s.Life.FinishDurable(j, job.Failed, now, err.Error())
	return jerr
}

// expire ends the attempt of r, whose lease expired, as failed with
// ErrLeaseExpired, retried as any failed attempt.
func (s *Server) expire(r *job.Job) {
	s.ended()
	s.expired.Add(1)
	s.Log.Warn("lease expired", "id", r.ID, "claimed_by", r.ClaimedBy())
	s.failed(r, ErrLeaseExpired, true, false)
}

// stale answers 409 for a call whose lease is not j's current one.
func stale(w http.ResponseWriter, j *job.Job, st job.State) {
	respond.Error(w, http.StatusConflict, "the lease is not job "+j.ID+"'s current one (expired, canceled, claimed again, or from before a restart): the job is "+st.String())
}

// draining answers 503 to a claim when the drain has nothing left to hand out.
func draining(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	respond.Error(w, http.StatusServiceUnavailable, "the server is draining and has no job left to hand out")
}

// refuse answers err, a *respond.Refusal, or 400.
func refuse(w http.ResponseWriter, r *http.Request, err error) {
	var ref *respond.Refusal
	if errors.As(err, &ref) {
		if ref.BodyUnread {
			respond.CloseUnread(w, r)
		}
		respond.Error(w, ref.Status, ref.Msg)
		return
	}
	respond.Error(w, http.StatusBadRequest, err.Error())
}

// duration reads the duration parameter key of p: def if absent, else in
// [lo, hi].
func duration(p map[string]string, key string, def, lo, hi time.Duration) (time.Duration, error) {
	v, ok := p[key]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, respond.BadRequest("%s %s is not a duration: use a number and a unit, such as 30s", key, respond.Quote(v))
	case d < lo || d > hi:
		return 0, respond.BadRequest("%s %s is out of range: use one from %s to %s", key, d, lo, hi)
	}
	return d, nil
}

// workerName reads the worker parameter of p: up to MaxWorkerLen visible
// ASCII characters; the client's address if absent.
func workerName(p map[string]string, r *http.Request) (string, error) {
	v, ok := p["worker"]
	if !ok {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr, nil
		}
		return host, nil
	}
	if v == "" || len(v) > MaxWorkerLen {
		return "", respond.BadRequest("worker %s must be 1 to %d visible ASCII characters", respond.Quote(v), MaxWorkerLen)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return "", respond.BadRequest("worker %s must be 1 to %d visible ASCII characters (no space or control)", respond.Quote(v), MaxWorkerLen)
		}
	}
	return v, nil
}
