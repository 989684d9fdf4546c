package main

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"workqueue/internal/respond"
)

// maxKeyBytes is the longest idempotency key, in bytes (SPEC.md,
// "Idempotency-Key (v2)").
const maxKeyBytes = 255

// errBadKey says what an Idempotency-Key must be.
var errBadKey = errors.New(`Idempotency-Key must be 1 to 255 visible ASCII characters (0x21-0x7E), ` +
	`bare or in double quotes as a structured-field string: Idempotency-Key: "8e03978e-40d5"`)

// parseIdempotencyKey returns the key that the Idempotency-Key header values
// vs carry (draft-ietf-httpapi-idempotency-key-header, section 2: the value
// is an sf-string, RFC 8941 section 3.3.3). A value in double quotes, with
// \" and \\ escapes, is the same key as its content given bare. The key is 1
// to 255 visible ASCII characters; a bare key may not begin or end with a
// double quote. Anything else, or the header given twice, is errBadKey.
func parseIdempotencyKey(vs []string) (string, error) {
	if len(vs) != 1 {
		return "", errors.New("send Idempotency-Key once, not " + strconv.Itoa(len(vs)) + " times")
	}
	v := vs[0]
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && !escapedQuote(v) {
		if v = v[1 : len(v)-1]; strings.ContainsAny(v, `"\`) {
			v = unescapeKey(v) // "" if malformed
		}
		if v == "" {
			return "", errBadKey
		}
	} else if v != "" && (v[0] == '"' || v[len(v)-1] == '"') {
		return "", errBadKey // an unbalanced quote
	}
	if v == "" || len(v) > maxKeyBytes {
		return "", errBadKey
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return "", errBadKey
		}
	}
	return v, nil
}

// escapedQuote reports whether the closing quote of the quoted value v is
// escaped: preceded by an odd number of backslashes.
func escapedQuote(v string) bool {
	n := 0
	for i := len(v) - 2; i > 0 && v[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// unescapeKey undoes the \" and \\ escapes of an sf-string's content s. It
// returns "" if s holds a lone quote or any other escape, which RFC 8941
// section 4.2.5 makes a parse error.
func unescapeKey(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
			i++
			b.WriteByte(s[i])
		case c == '\\' || c == '"':
			return ""
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// keyClaim is a request's claim on a new key while the Collector makes its
// job. Its methods do nothing on a nil claim: a request without a key.
type keyClaim struct {
	keys  *Keys
	key   string
	entry *keyEntry
	bound bool
}

// Key returns the claimed key, or "" for a nil claim: what a journal
// records with the job's acceptance, to Restore at the next start.
func (c *keyClaim) Key() string {
	if c == nil {
		return ""
	}
	return c.key
}

// hold ties the claim to req, its job, made with the claim's Key, before
// the Store keeps req: it binds req's number to the key, for the Store to
// forget.
func (c *keyClaim) hold(req *WorkRequest) {
	if c != nil {
		req.Key = c.key
		c.keys.hold(c.key, c.entry, req.Seq)
	}
}

// bind binds the key to its job for good; call it once the job is queued,
// before answering 201.
func (c *keyClaim) bind() {
	if c != nil {
		c.keys.bind(c.entry)
		c.bound = true
	}
}

// release frees the key unless it was bound: the request was answered
// anything but 201. Deferred, it runs however the request ends.
func (c *keyClaim) release() {
	if c != nil && !c.bound {
		c.keys.release(c.key, c.entry)
	}
}

// claimKey checks the Idempotency-Key header values vs of a submission of
// name and delay. For a key not seen before it returns a claim, which the
// caller holds, binds or releases. Otherwise it answers the request itself
// and returns nil: 400 for a bad key, 409 while the key's first request is
// still being accepted, 422 for a key bound to a job of another name or
// delay, and for a retry, 201 with that job as it is now.
func (c *Collector) claimKey(w http.ResponseWriter, vs []string, name string, delay time.Duration) *keyClaim {
	key, err := parseIdempotencyKey(vs)
	if err != nil {
		c.stats.RejectedInvalid.Add(1)
		respond.Error(w, http.StatusBadRequest, err.Error())
		return nil
	}
	keys := c.keys
	for {
		e, claim := keys.claim(key, name, delay)
		switch {
		case claim != nil:
			return &keyClaim{keys: keys, key: key, entry: claim}
		case e.pending:
			w.Header()["Retry-After"] = []string{"1"}
			respond.Error(w, http.StatusConflict, "a request with Idempotency-Key "+respond.Quote(key)+
				" is still being accepted; retry in a second for its answer")
		case e.name != name || e.delay != delay:
			c.stats.RejectedInvalid.Add(1)
			id := strconv.FormatUint(e.seq, 10)
			respond.Error(w, http.StatusUnprocessableEntity, "Idempotency-Key "+respond.Quote(key)+" belongs to job "+id+
				" (GET /work/"+id+"), made with another name or delay; send a new key for a new job")
		default:
			r := c.jobs.BySeq(e.seq)
			if r == nil { // the job left the store as we looked: free its key
				keys.forget(e.seq)
				continue
			}
			h := w.Header()
			h["Location"] = []string{"/work/" + r.ID}
			h["Idempotent-Replayed"] = []string{"true"}
			writeJob(w, http.StatusCreated, r)
		}
		return nil
	}
}
