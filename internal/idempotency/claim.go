package idempotency

import (
	"net/http"
	"strconv"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/respond"
)

// Claim is a request's claim on a new key while the Collector makes its
// job. Its methods do nothing on a nil claim: a request without a key.
type Claim struct {
	keys  *Keys
	key   string
	entry *keyEntry
	bound bool
}

// Key returns the claimed key, or "" for a nil claim: what a journal
// records with the job's acceptance, to Restore at the next start.
func (c *Claim) Key() string {
	if c == nil {
		return ""
	}
	return c.key
}

// Hold ties the claim to the job numbered seq, made with the claim's Key,
// before the store keeps the job: it binds the number to the key, for the
// store to forget.
func (c *Claim) Hold(seq uint64) {
	if c != nil {
		c.keys.hold(c.key, c.entry, seq)
	}
}

// Bind binds the key to its job for good; call it once the job is queued,
// before answering 201.
func (c *Claim) Bind() {
	if c != nil {
		c.keys.bind(c.entry)
		c.bound = true
	}
}

// Release frees the key unless it was bound: the request was answered
// anything but 201. Deferred, it runs however the request ends.
func (c *Claim) Release() {
	if c != nil && !c.bound {
		c.keys.release(c.key, c.entry)
	}
}

// Check checks the Idempotency-Key header values vs of a submission of
// name and delay. For a key not seen before it returns a claim, which the
// caller holds, binds or releases. Otherwise it answers the request itself
// and returns a nil claim: 400 for a bad key, 409 while the key's first
// request is still being accepted, 422 for a key bound to a job of another
// name or delay, and for a retry, 201 with that job as lookup (the store's
// BySeq) finds it now. invalid reports a 400 or 422, which the caller
// counts as a refused submission.
//
// pol, the submission's retries and timeout, is compared with the job's own
// once lookup finds it: a key bound to a job of another policy is 422 too.
func (k *Keys) Check(w http.ResponseWriter, vs []string, name string, delay time.Duration, pol job.Policy, lookup func(seq uint64) *job.Job) (c *Claim, invalid bool) {
	key, err := ParseKey(vs)
	if err != nil {
		respond.Error(w, http.StatusBadRequest, err.Error())
		return nil, true
	}
	for {
		e, claim := k.claim(key, name, delay)
		switch {
		case claim != nil:
			return &Claim{keys: k, key: key, entry: claim}, false
		case e.pending:
			w.Header()["Retry-After"] = []string{"1"}
			respond.Error(w, http.StatusConflict, "a request with Idempotency-Key "+respond.Quote(key)+
				" is still being accepted; retry in a second for its answer")
		case e.name != name || e.delay != delay:
			id := strconv.FormatUint(e.seq, 10)
			if r := lookup(e.seq); r != nil {
				id = r.ID // with -node, a-17
			}
			respond.Error(w, http.StatusUnprocessableEntity, "Idempotency-Key "+respond.Quote(key)+" belongs to job "+id+
				" (GET /work/"+id+"), made with another name or delay; send a new key for a new job")
			return nil, true
		default:
			r := lookup(e.seq)
			if r == nil { // the job left the store as we looked: free its key
				k.Forget(e.seq)
				continue
			}
			if r.Policy != pol {
				respond.Error(w, http.StatusUnprocessableEntity, "Idempotency-Key "+respond.Quote(key)+" belongs to job "+r.ID+
					" (GET /work/"+r.ID+"), made with other retries or timeout; send a new key for a new job")
				return nil, true
			}
			h := w.Header()
			h["Location"] = []string{"/work/" + r.ID}
			h["Idempotent-Replayed"] = []string{"true"}
			respond.Job(w, http.StatusCreated, r)
		}
		return nil, false
	}
}
