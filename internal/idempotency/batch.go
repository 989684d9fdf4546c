package idempotency

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/respond"
)

// CheckBatch is Check for a batch of n jobs, the first of which has name
// and delay. For a key not seen before it returns a claim, which the caller
// holds (HoldBatch), binds or releases. Otherwise it answers the request
// itself and returns a nil claim: 400 for a bad key, 409 while the key's
// first request is still being accepted, 422 for a key bound to a single
// job or a batch of another size, or to jobs that same (given the jobs as
// lookup finds them now, in order) says are not what this batch asks for;
// and for a retry, 201 with those jobs and Idempotent-Replayed: true. A
// batch of one and a single job are the same binding. invalid reports a
// 400 or 422.
func (k *Keys) CheckBatch(w http.ResponseWriter, vs []string, n int, name string, delay time.Duration,
	same func([]*job.Job) bool, lookup func(seq uint64) *job.Job) (c *Claim, invalid bool) {
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
			return nil, false
		case max(e.n, 1) != n:
			respond.Error(w, http.StatusUnprocessableEntity, "Idempotency-Key "+respond.Quote(key)+" belongs to "+e.jobs()+
				", not to a batch of "+strconv.Itoa(n)+"; send a new key for a new batch")
			return nil, true
		}
		jobs := make([]*job.Job, n)
		for i := range jobs {
			if jobs[i] = lookup(e.seq + uint64(i)); jobs[i] == nil {
				break
			}
		}
		if jobs[n-1] == nil { // a job left the store as we looked: free its key
			k.Forget(e.seq)
			continue
		}
		if !same(jobs) {
			respond.Error(w, http.StatusUnprocessableEntity, "Idempotency-Key "+respond.Quote(key)+" belongs to "+e.jobs()+
				", made of another body; send a new key for a new batch")
			return nil, true
		}
		w.Header()["Idempotent-Replayed"] = []string{"true"}
		respond.Jobs(w, http.StatusCreated, jobs)
		return nil, false
	}
}

// jobs names what e is bound to, for an error: one job, or a batch.
func (e *keyEntry) jobs() string {
	if e.n <= 1 {
		id := strconv.FormatUint(e.seq, 10)
		return "job " + id + " (GET /work/" + id + ")"
	}
	return fmt.Sprintf("a batch of %d jobs, %d to %d", e.n, e.seq, e.seq+uint64(e.n)-1)
}

// HoldBatch is Hold for a batch of n jobs numbered first, first+1, ...:
// call it before the store keeps them.
func (c *Claim) HoldBatch(first uint64, n int) {
	if c != nil {
		c.keys.holdBatch(c.key, c.entry, first, n)
	}
}
