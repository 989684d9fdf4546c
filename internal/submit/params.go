// Package submit reads a job submission from a request (query, form,
// multipart or JSON) and checks every parameter.
package submit

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"workqueue/internal/job"
	"workqueue/internal/respond"
)

// Limits on what a client may submit.
const (
	// DefaultMaxPayload is the largest payload, in bytes, when Limits says
	// none (-max-payload's default, 64 KiB).
	DefaultMaxPayload = 64 << 10
	// BodyRoom is how much larger than the largest payload a body may be,
	// in bytes (64 KiB): room for the other parameters and the encoding.
	BodyRoom = 64 << 10
	// MaxBodyBytes is the largest request body, form, multipart or JSON, in
	// bytes, with the default payload limit (128 KiB): Parse refuses a
	// larger one with 413. Limits.MaxBody gives it for other limits.
	MaxBodyBytes = DefaultMaxPayload + BodyRoom
	// MaxNameBytes is the longest name, in bytes of UTF-8: CheckName
	// refuses a longer one.
	MaxNameBytes = 1024
)

// Limits are what a server lets a submission ask for.
type Limits struct {
	MaxDelay   time.Duration // the largest delay (-max-delay)
	MaxRetries int           // the most retries a job may ask for (-max-retries)
	Command    bool          // whether jobs run a command (-- COMMAND): only then do retries and timeout apply, and delay is a run_at
	MaxPayload int           // the largest payload in bytes (-max-payload); 0 for DefaultMaxPayload
	MaxAhead   time.Duration // how far ahead run_at may be (-max-ahead); 0 for DefaultMaxAhead
	MaxBatch   int           // the most jobs in one batch (-max-batch); 0 for DefaultMaxBatch
}

// MaxBody returns the largest body Parse takes under l, in bytes: the
// largest payload and BodyRoom.
func (l Limits) MaxBody() int64 { return int64(l.maxPayload()) + BodyRoom }

func (l Limits) maxPayload() int { return cmp.Or(l.MaxPayload, DefaultMaxPayload) }

// Submission is a checked POST /work: what its job is made of.
type Submission struct {
	Name    string
	Delay   time.Duration
	Policy  job.Policy // retries and timeout, as given
	Payload []byte     // raw JSON text as sent, without white space around it; nil for none
	RunAt   time.Time  // run_at as given, in the past included; zero for none
	// Delayed is whether Delay is a time to run (with -- COMMAND): the job's
	// run_at is then its acceptance plus Delay, and RunAt is zero.
	Delayed bool
}

// Matches reports whether r, the job an Idempotency-Key is bound to, was
// made of what s asks for beyond its name and delay (which the keys compare
// themselves): retries, timeout, payload (its length only, once dropped)
// and run_at (a delayed job's is its acceptance plus its delay: the delays
// match).
func (s *Submission) Matches(r *job.Job) bool {
	if r.Policy != s.Policy || r.PayloadBytes != len(s.Payload) {
		return false
	}
	if b, dropped := r.Payload(); !dropped && !bytes.Equal(b, s.Payload) {
		return false
	}
	return s.Delayed || r.RunAt.Equal(s.RunAt)
}

// MaxTimeout is the longest timeout a job may ask for.
const MaxTimeout = 24 * time.Hour

// Parse reads and checks the parameters of a POST /work (name, delay,
// retries, timeout), from the query and from a form or JSON body; a value
// in the body wins over the same parameter in the query, but a parameter
// given twice in one place is refused, and so is any other parameter, in
// any place: nothing sent is dropped. The delay lies in [0, lim.MaxDelay],
// and is 0 if none is given; retries in [0, lim.MaxRetries]; a timeout in
// (0, MaxTimeout]; retries and timeout only with lim.Command. Every error
// it returns is a *respond.Refusal, with BodyUnread set when r was refused
// before its body was read. Parse writes no answer: w only gets
// Accept-Encoding when a Content-Encoding is refused, and bounds a body of
// unknown length (http.MaxBytesReader).
func Parse(w http.ResponseWriter, r *http.Request, lim Limits) (Submission, error) {
	if err := checkEncoding(r.Header); err != nil {
		w.Header()["Accept-Encoding"] = []string{"identity"} // RFC 9110 §12.5.3
		return Submission{}, respond.Unread(err)
	}
	var p params
	if r.URL.RawQuery != "" {
		if err := p.takeForm(r.URL.RawQuery, "the query", "the query string"); err != nil {
			return Submission{}, respond.Unread(err)
		}
	}
	if err := p.readBody(w, r, lim.MaxBody()); err != nil {
		return Submission{}, err
	}
	return p.check(lim)
}

// check checks p's parameters against lim and returns the submission they
// make: a single job's, or one job's of a batch.
func (p *params) check(lim Limits) (Submission, error) {
	if err := CheckName(p.name); err != nil {
		return Submission{}, err
	}
	delay, err := parseDelay(p.delay, lim.MaxDelay)
	if err != nil {
		return Submission{}, err
	}
	pol, err := p.policy(lim)
	if err != nil {
		return Submission{}, err
	}
	sub := Submission{Name: p.name, Delay: delay, Policy: pol, Delayed: lim.Command && delay > 0}
	if sub.Payload, err = p.checkPayload(lim.maxPayload()); err != nil {
		return Submission{}, err
	}
	if sub.RunAt, err = p.checkRunAt(lim, time.Now()); err != nil {
		return Submission{}, err
	}
	return sub, nil
}

// policy checks p's retries and timeout against lim.
func (p *params) policy(lim Limits) (job.Policy, error) {
	var pol job.Policy
	for _, k := range [...]struct{ key, value string }{{"retries", p.retries}, {"timeout", p.timeout}} {
		if k.value != "" && !lim.Command {
			return pol, respond.BadRequest("%s applies to a job that runs a command, and this server runs none: its jobs cannot fail or overrun (start it with -- COMMAND)", k.key)
		}
	}
	if p.retries != "" {
		n, err := strconv.Atoi(p.retries)
		switch {
		case err != nil && errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(p.retries, "-"):
			return pol, respond.BadRequest("retries %s is above this server's maximum of %d (-max-retries)", respond.Quote(p.retries), lim.MaxRetries)
		case err != nil:
			return pol, respond.BadRequest("retries %s is not a whole number: use one from 0 to %d", respond.Quote(p.retries), lim.MaxRetries)
		case n < 0:
			return pol, respond.BadRequest("retries %d is negative: use one from 0 to %d", n, lim.MaxRetries)
		case n > lim.MaxRetries:
			return pol, respond.BadRequest("retries %d is above this server's maximum of %d (-max-retries)", n, lim.MaxRetries)
		}
		pol.Retries, pol.SetRetries = n, true
	}
	if p.timeout != "" {
		d, err := time.ParseDuration(p.timeout)
		switch {
		case err != nil:
			return pol, respond.BadRequest("timeout %s is not a duration: use a number and a unit, such as 30s or 5m", respond.Quote(p.timeout))
		case d <= 0:
			return pol, respond.BadRequest("timeout %s is not above 0", d)
		case d > MaxTimeout:
			return pol, respond.BadRequest("timeout %s is above the maximum of %s", d, MaxTimeout)
		}
		pol.Timeout = d
	}
	return pol, nil
}

// checkEncoding refuses a body with any content coding but identity
// (RFC 9110 §8.4): this server decodes none, and reading a gzipped form as
// a form would silently lose what it says. Codings are case-insensitive and
// may come as a list.
func checkEncoding(h http.Header) error {
	for _, v := range h["Content-Encoding"] {
		for coding := range strings.SplitSeq(v, ",") {
			if c := strings.TrimSpace(coding); c != "" && !strings.EqualFold(c, "identity") {
				return &respond.Refusal{Status: http.StatusUnsupportedMediaType, Msg: fmt.Sprintf(
					"Content-Encoding %s: this server does not accept encoded bodies; send the body as it is, without Content-Encoding", respond.Quote(v))}
			}
		}
	}
	return nil
}

// params are the raw parameters of a POST /work.
type params struct {
	name, delay, retries, timeout, runAt, payload string
	// payloadJSON is whether payload came as a JSON value in a JSON body,
	// and so is known to be JSON; from a form or the query it is text that
	// must be checked.
	payloadJSON bool
}

// field returns where p keeps the parameter key, or nil if p has none such.
func (p *params) field(key string) *string {
	switch key {
	case "name":
		return &p.name
	case "delay":
		return &p.delay
	case "retries":
		return &p.retries
	case "timeout":
		return &p.timeout
	case "payload":
		return &p.payload
	case "run_at":
		return &p.runAt
	}
	return nil
}

// take sets p's parameters from values, read from one place (where: "the
// query", "the form body"), refusing a parameter p does not know (see
// errUnknown; of several, the first in byte order) and one given there more
// than once.
func (p *params) take(values url.Values, where string) error {
	unknown, found := "", false
	for key := range values {
		if p.field(key) == nil && (!found || key < unknown) {
			unknown, found = key, true
		}
	}
	if found {
		return errUnknown(unknown, where)
	}
	for _, key := range parameters {
		v, ok := values[key]
		switch {
		case !ok:
		case len(v) > 1:
			return errRepeated(key, len(v), where)
		default:
			*p.field(key) = v[0]
		}
	}
	return nil
}

// parameters are the parameters of a POST /work.
var parameters = [...]string{"name", "delay", "payload", "run_at", "retries", "timeout"}

// known is how an error names the parameters of a POST /work.
const known = `"name", "delay", "payload", "run_at", "retries" and "timeout"`

// errUnknown refuses key, a parameter that POST /work does not take, found in
// where ("the query", "the form body", "the JSON body"): nothing a client
// sends is silently dropped.
func errUnknown(key, where string) error {
	return respond.BadRequest("%s may hold only %s, not %s", where, known, respond.Quote(key))
}

// errRepeated refuses a parameter given n times in one place (where).
func errRepeated(key string, n int, where string) error {
	return respond.BadRequest("%s is given %d times in %s; give it once", key, n, where)
}

// takeForm sets p's parameters from s, a query string or a URL-encoded form
// body, parsed as url.ParseQuery does, refusing an unknown parameter and one
// given more than once (see take). what names s in the error for a malformed s. A plain s,
// with no escapes, no '+', no ';' and a few pairs (nearly every POST /work),
// is read in place: url.ParseQuery would make the same of it, and a map.
func (p *params) takeForm(s, where, what string) error {
	if !plainForm(s) {
		return p.parseForm(s, where, what)
	}
	form := s
	var name, delay int // how many times each is given
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		key, value, _ := strings.Cut(pair, "=")
		switch key {
		case "name":
			if name++; name == 1 {
				p.name = value
			}
		case "delay":
			if delay++; delay == 1 {
				p.delay = value
			}
		default:
			if pair != "" { // an unknown key: refused, named as parseForm names it
				return p.parseForm(form, where, what)
			}
		}
	}
	switch {
	case name > 1:
		return errRepeated("name", name, where)
	case delay > 1:
		return errRepeated("delay", delay, where)
	}
	return nil
}

// parseForm sets p's parameters from s as takeForm does, through
// url.ParseQuery.
func (p *params) parseForm(s, where, what string) error {
	values, err := url.ParseQuery(s)
	if err != nil {
		// url's errors quote at most 3 bytes of the input.
		return respond.BadRequest("%s is malformed: %v", what, err)
	}
	return p.take(values, where)
}

// plainForm reports whether url.ParseQuery would read s as it is: no
// escapes or '+' to decode, no ';' to refuse, and far fewer pairs than its
// limit (GODEBUG urlmaxqueryparams, 10,000 by default).
func plainForm(s string) bool {
	return !strings.ContainsAny(s, "%+;") && strings.Count(s, "&") < 16
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
		return 0, respond.BadRequest("delay %s is not a duration: use a number and a unit, such as 250ms or 1.5s", respond.Quote(s))
	case d < 0:
		return 0, respond.BadRequest("delay %s is negative", d)
	case d > max:
		return 0, respond.BadRequest("delay %s is above this server's maximum of %s", d, max)
	}
	return d, nil
}
