package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// The content types a POST /work body may have.
const (
	formType      = "application/x-www-form-urlencoded"
	multipartType = "multipart/form-data"
	jsonType      = "application/json"
)

// Limits on what a client may submit.
const (
	maxBodyBytes = 64 << 10 // largest request body, form or JSON
	maxNameBytes = 1024     // longest name, in bytes
)

// Collector is the HTTP handler for POST /work. It turns each valid request
// into a WorkRequest and pushes it onto WorkQueue, answering 201, or 503
// at once when the queue is full or closed.
type Collector struct {
	queue    *WorkQueue
	jobs     *Store
	stats    *Stats
	maxDelay time.Duration
	log      *slog.Logger
	debug    bool          // whether log takes debug lines: checked before building one
	lastID   atomic.Uint64 // the ID given to the latest request
	journal  *jobJournal   // where acceptances are made durable; nil without -journal
}

// ServeHTTP handles POST /work.
func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, delay, err := parseWork(w, r, c.maxDelay)
	if err != nil {
		c.stats.RejectedInvalid.Add(1)
		var he *httpError
		errors.As(err, &he)
		writeError(w, he.status, he.msg)
		return
	}
	var key *keyClaim // nil without an Idempotency-Key
	if vs, ok := r.Header["Idempotency-Key"]; ok {
		if key = c.claimKey(w, vs, name, delay); key == nil {
			return // answered: a replay, or a 400, 409 or 422
		}
		defer key.release() // unless bound below
	}
	if err := c.journal.err(); err != nil {
		c.refuse(w, err)
		return
	}
	if c.queue.Len() >= c.queue.Cap() && !c.queue.Closed() {
		// Full now, so refusing is right; checking first spares a flood
		// of excess requests the work below.
		c.refuse(w, errQueueFull)
		return
	}
	seq := c.lastID.Add(1)
	req := &WorkRequest{
		ID:         strconv.FormatUint(seq, 10),
		seq:        seq,
		Name:       name,
		Delay:      delay,
		EnqueuedAt: time.Now(),
	}
	key.hold(req)
	c.jobs.Add(req)
	if err := c.journal.accepted(req); err != nil {
		c.jobs.Remove(req)
		c.refuse(w, err)
		return
	}
	if err := c.queue.Push(req); err != nil {
		c.journal.refused(req)
		c.jobs.Remove(req)
		c.refuse(w, err)
		return
	}
	if c.debug {
		c.log.Debug("job accepted", "id", req.ID, "name", req.Name, "delay", req.Delay)
	}
	key.bind()
	w.Header()["Location"] = []string{"/work/" + req.ID}
	writeJob(w, http.StatusCreated, req)
}

// refuse answers 503 for a request the server cannot take, because
// WorkQueue is full or draining or the journal cannot be written (err says
// which), and counts it. Only the first two say when to retry: a journal
// that failed stays failed until a restart.
func (c *Collector) refuse(w http.ResponseWriter, err error) {
	switch {
	case err == errDraining:
		c.stats.RejectedDraining.Add(1)
	case errors.Is(err, errJournal):
		c.stats.RejectedJournal.Add(1)
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	default:
		c.stats.RejectedFull.Add(1)
	}
	w.Header()["Retry-After"] = []string{"1"}
	writeError(w, http.StatusServiceUnavailable, err.Error())
}

// httpError is a request the Collector refuses, with the status to answer
// and a message the client can act on.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// parseWork reads and checks the name and delay of a POST /work, from the
// query and from a form or JSON body; a value in the body wins over the same
// parameter in the query. Every error it returns is an *httpError.
func parseWork(w http.ResponseWriter, r *http.Request, maxDelay time.Duration) (string, time.Duration, error) {
	var p params
	if r.URL.RawQuery != "" {
		query, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return "", 0, badRequest("the query string is malformed: %v", err)
		}
		p = params{name: query.Get("name"), delay: query.Get("delay")}
	}
	if err := p.readBody(w, r); err != nil {
		return "", 0, err
	}
	if err := checkName(p.name); err != nil {
		return "", 0, err
	}
	delay, err := parseDelay(p.delay, maxDelay)
	return p.name, delay, err
}

// params are the raw parameters of a POST /work.
type params struct {
	name, delay string
}

// readBody overrides p with the parameters given in r's body, if it has one.
func (p *params) readBody(w http.ResponseWriter, r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if r.ContentLength == 0 && ct == "" {
		return nil
	}
	mediaType := ct
	switch ct {
	case formType, multipartType, jsonType: // as most clients send them
	default:
		if mt, _, err := mime.ParseMediaType(ct); err == nil {
			mediaType = mt
		}
	}
	switch {
	case r.ContentLength > maxBodyBytes:
		return errTooLarge() // without reading it
	case r.ContentLength < 0: // length unknown: chunked
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	}
	switch mediaType {
	case formType:
		return p.readForm(r, r.ParseForm())
	case multipartType:
		err := r.ParseMultipartForm(maxBodyBytes)
		if r.MultipartForm != nil {
			defer r.MultipartForm.RemoveAll()
		}
		return p.readForm(r, err)
	case jsonType:
		return p.readJSON(r)
	}
	const want = "send application/x-www-form-urlencoded, multipart/form-data or application/json"
	if ct == "" {
		return &httpError{http.StatusUnsupportedMediaType, "the body has no Content-Type: " + want}
	}
	return &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q is not supported: %s", ct, want)}
}

// readForm takes the parameters from r's parsed form body.
func (p *params) readForm(r *http.Request, parseErr error) error {
	if parseErr != nil {
		if tooLarge(parseErr) {
			return errTooLarge()
		}
		return badRequest("the form body is malformed: %v", parseErr)
	}
	if v, ok := r.PostForm["name"]; ok {
		p.name = v[0]
	}
	if v, ok := r.PostForm["delay"]; ok {
		p.delay = v[0]
	}
	return nil
}

// readJSON takes the parameters from r's JSON body, an object with the
// string fields "name" and "delay".
func (p *params) readJSON(r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if tooLarge(err) {
			return errTooLarge()
		}
		return badRequest("could not read the body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if !utf8.Valid(body) {
		return badRequest("the JSON body is not valid UTF-8")
	}
	// A map, not a struct: encoding/json matches struct fields regardless of
	// case, and {"NAME": ...} is not a field this API has.
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return badRequest(`the JSON body holds more than one value: send one object such as {"name": "Alice", "delay": "2s"}`)
	}
	for key := range fields {
		if key != "name" && key != "delay" {
			return badRequest(`the JSON body may hold only "name" and "delay", not %q`, key)
		}
	}
	for _, f := range [...]struct {
		key string
		dst *string
	}{{"name", &p.name}, {"delay", &p.delay}} {
		key, dst := f.key, f.dst
		raw, ok := fields[key]
		if !ok {
			continue
		}
		var v *string
		if err := json.Unmarshal(raw, &v); err != nil {
			return badRequest(`JSON field %q must be a string, not %s`, key, jsonKind(raw))
		}
		if v != nil { // null counts as absent
			*dst = *v
		}
	}
	return nil
}

// jsonKind names the kind of a JSON value: string, number, object, ...
func jsonKind(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// jsonError describes an error decoding the JSON body as an object in terms
// the client can act on.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return badRequest(`the JSON body must be an object such as {"name": "Alice", "delay": "2s"}, not %s`, typeErr.Value)
	}
	return badRequest("the body is not valid JSON: %v", err)
}

func tooLarge(err error) bool {
	var maxErr *http.MaxBytesError
	return errors.As(err, &maxErr)
}

func errTooLarge() error {
	return &httpError{http.StatusRequestEntityTooLarge,
		fmt.Sprintf("the body is larger than %d KiB", maxBodyBytes>>10)}
}

// checkName reports whether name is one a worker may greet: present, not too
// long, valid UTF-8 and free of control characters, so that it can never
// forge a line of output.
func checkName(name string) error {
	switch {
	case name == "":
		return badRequest(`name is required: POST /work?name=Alice, a form field name=Alice or {"name": "Alice"}`)
	case len(name) > maxNameBytes:
		return badRequest("name is %d bytes long; the limit is %d", len(name), maxNameBytes)
	case !utf8.ValidString(name):
		return badRequest("name is not valid UTF-8")
	}
	for i, c := range name {
		if unicode.IsControl(c) {
			return badRequest("name holds a control character (%U) at byte %d; use printable characters only", c, i)
		}
	}
	return nil
}

// parseDelay parses a delay such as "1.5s" and checks it lies in [0, max].
// An empty delay is zero.
func parseDelay(s string, max time.Duration) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, badRequest("delay %q is not a duration: use a number and a unit, such as 250ms or 1.5s", s)
	case d < 0:
		return 0, badRequest("delay %s is negative", d)
	case d > max:
		return 0, badRequest("delay %s is above this server's maximum of %s", d, max)
	}
	return d, nil
}
