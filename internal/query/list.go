// Package query answers the reads of the job store: GET /work, the listing
// (newest first, by state, in pages), and the wait of GET /work/<id>?wait=,
// which holds an answer until the job is final.
package query

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"workqueue/internal/job"
	"workqueue/internal/respond"
	"workqueue/internal/store"
)

// Bounds of GET /work's limit parameter.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// stateNames lists the states GET /work?state= takes, for its error message.
const stateNames = "queued, running, done, canceled, failed"

// listQuery is a parsed GET /work query.
type listQuery struct {
	states uint8  // bit 1<<job.State for each state asked for; 0 for all
	limit  int    // most jobs to list, 1 to maxListLimit
	before uint64 // list only jobs numbered below this; math.MaxUint64 for all
}

// wants reports whether q lists jobs in state st.
func (q listQuery) wants(st string) bool {
	if q.states == 0 {
		return true
	}
	s, ok := job.ParseState(st)
	return ok && q.states&(1<<s) != 0
}

// parseListQuery parses the query of GET /work: state (one or several,
// comma-separated or repeated), limit (1 to 1000, default 100) and before
// (a job id). Every error it returns is a *respond.Refusal, a 400 naming
// what is wrong.
func parseListQuery(rawQuery string) (listQuery, error) {
	q := listQuery{limit: defaultListLimit, before: math.MaxUint64}
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return q, respond.BadRequest("the query string is malformed: %v", err)
	}
	for key, vs := range values {
		switch key {
		case "state":
			for _, name := range strings.Split(strings.Join(vs, ","), ",") {
				s, ok := job.ParseState(name)
				if !ok {
					return q, respond.BadRequest("state %s is not a state: use one or several of %s, comma-separated", respond.Quote(name), stateNames)
				}
				q.states |= 1 << s
			}
		case "limit":
			n, err := strconv.Atoi(vs[0])
			if err != nil || n < 1 || n > maxListLimit || len(vs) > 1 {
				return q, respond.BadRequest("limit=%s is not a whole number from 1 to %d (give it once)", respond.Quote(strings.Join(vs, ",")), maxListLimit)
			}
			q.limit = n
		case "before":
			seq, ok := job.SeqOf(vs[0])
			if !ok || len(vs) > 1 {
				return q, respond.BadRequest("before=%s is not a job id (give it once): use the id of the last job of the page before", respond.Quote(strings.Join(vs, ",")))
			}
			q.before = seq
		default:
			return q, respond.BadRequest("GET /work lists jobs and takes state, limit and before, not %s; submit a job with POST /work", respond.Quote(key))
		}
	}
	return q, nil
}

// List answers GET /work r with the jobs that jobs keeps, newest first,
// that match the query (state, limit from 1 to 1000, before), or a 400
// naming what is wrong with the query. It takes them from the store in batches of pointers,
// holding the store's lock only for that, and reads each job's state after
// releasing it; without a state filter it costs O(limit), whatever the
// store's size.
func List(w http.ResponseWriter, r *http.Request, jobs *store.Store) {
	q, err := parseListQuery(r.URL.RawQuery)
	if err != nil {
		respond.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	b := append(make([]byte, 0, 64+200*min(q.limit, 16)), `{"jobs":[`...)
	batch := make([]*job.Job, 0, max(q.limit, 64))
	n := 0
	for before := q.before; n < q.limit; {
		batch = jobs.Older(batch[:0], before, cap(batch))
		for _, req := range batch {
			j := req.Snapshot()
			if !q.wants(j.State) {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			b = respond.AppendJob(b, &j)
			b = b[:len(b)-1] // appendJSON ends the object with a newline
			if n++; n == q.limit {
				break
			}
		}
		if len(batch) < cap(batch) {
			break // no older jobs
		}
		before = batch[len(batch)-1].Seq
	}
	respond.JSON(w, http.StatusOK, append(b, "]}\n"...))
}
