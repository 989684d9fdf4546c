package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
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

// httpError is a request the Collector refuses, with the status to answer
// and a message the client can act on.
type httpError struct {
	status int
	msg    string
	// bodyUnread is set when the request was refused before its body was
	// read: its connection is then closed (see closeUnread).
	bodyUnread bool
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// unread marks err, an *httpError, as given before the body was read.
func unread(err error) error {
	if he, ok := err.(*httpError); ok {
		he.bodyUnread = true
	}
	return err
}

// parseWork reads and checks the name and delay of a POST /work, from the
// query and from a form or JSON body; a value in the body wins over the same
// parameter in the query, but a parameter given twice in one place is
// refused. Every error it returns is an *httpError.
func parseWork(w http.ResponseWriter, r *http.Request, maxDelay time.Duration) (string, time.Duration, error) {
	if err := checkEncoding(r.Header); err != nil {
		w.Header()["Accept-Encoding"] = []string{"identity"} // RFC 9110 §12.5.3
		return "", 0, unread(err)
	}
	var p params
	if r.URL.RawQuery != "" {
		if err := p.takeForm(r.URL.RawQuery, "the query", "the query string"); err != nil {
			return "", 0, unread(err)
		}
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

// checkEncoding refuses a body with any content coding but identity
// (RFC 9110 §8.4): this server decodes none, and reading a gzipped form as
// a form would silently lose what it says. Codings are case-insensitive and
// may come as a list.
func checkEncoding(h http.Header) error {
	for _, v := range h["Content-Encoding"] {
		for coding := range strings.SplitSeq(v, ",") {
			if c := strings.TrimSpace(coding); c != "" && !strings.EqualFold(c, "identity") {
				return &httpError{status: http.StatusUnsupportedMediaType, msg: fmt.Sprintf(
					"Content-Encoding %s: this server does not accept encoded bodies; send the body as it is, without Content-Encoding", quote(v))}
			}
		}
	}
	return nil
}

// params are the raw parameters of a POST /work.
type params struct {
	name, delay string
}

// field returns where p keeps the parameter key, or nil if p has none such.
func (p *params) field(key string) *string {
	switch key {
	case "name":
		return &p.name
	case "delay":
		return &p.delay
	}
	return nil
}

// take sets p's parameters from values, read from one place (where: "the
// query", "the form body"), refusing a parameter given there more than once.
func (p *params) take(values url.Values, where string) error {
	for _, key := range [...]string{"name", "delay"} {
		v, ok := values[key]
		switch {
		case !ok:
		case len(v) > 1:
			return badRequest("%s is given %d times in %s; give it once", key, len(v), where)
		default:
			*p.field(key) = v[0]
		}
	}
	return nil
}

// takeForm sets p's parameters from s, a query string or a URL-encoded form
// body, parsed as url.ParseQuery does, refusing a parameter given more than
// once (see take). what names s in the error for a malformed s. A plain s,
// with no escapes, no '+', no ';' and a few pairs (nearly every POST /work),
// is read in place: url.ParseQuery would make the same of it, and a map.
func (p *params) takeForm(s, where, what string) error {
	if !plainForm(s) {
		values, err := url.ParseQuery(s)
		if err != nil {
			// url's errors quote at most 3 bytes of the input.
			return badRequest("%s is malformed: %v", what, err)
		}
		return p.take(values, where)
	}
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
		}
	}
	switch {
	case name > 1:
		return badRequest("name is given %d times in %s; give it once", name, where)
	case delay > 1:
		return badRequest("delay is given %d times in %s; give it once", delay, where)
	}
	return nil
}

// plainForm reports whether url.ParseQuery would read s as it is: no
// escapes or '+' to decode, no ';' to refuse, and far fewer pairs than its
// limit (GODEBUG urlmaxqueryparams, 10,000 by default).
func plainForm(s string) bool {
	return !strings.ContainsAny(s, "%+;") && strings.Count(s, "&") < 16
}

// readBody overrides p with the parameters given in r's body, if it has
// one. A request without a body is judged by its query alone, whatever its
// Content-Type says.
func (p *params) readBody(w http.ResponseWriter, r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	if r.ContentLength > maxBodyBytes {
		return unread(errTooLarge())
	}
	ct := r.Header.Get("Content-Type")
	mediaType := ct
	switch ct {
	case formType, multipartType, jsonType: // as most clients send them
	default:
		if mt, _, err := mime.ParseMediaType(ct); err == nil {
			mediaType = mt
		}
	}
	switch mediaType {
	case formType, multipartType, jsonType:
	default:
		if r.ContentLength > 0 {
			return unread(errUnsupported(ct))
		}
		if bodyEmpty(r.Body) { // chunked, with no chunk
			return nil
		}
		return errUnsupported(ct)
	}
	if r.ContentLength < 0 { // length unknown: chunked
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	}
	switch mediaType {
	case formType:
		return p.readForm(r.Body, r.ContentLength)
	case multipartType:
		return p.readMultipart(r)
	}
	return p.readJSON(r.Body)
}

// bodyEmpty reports whether body ends before its first byte.
func bodyEmpty(body io.Reader) bool {
	var b [1]byte
	n, _ := io.ReadFull(body, b[:])
	return n == 0
}

func errUnsupported(contentType string) error {
	const want = "send application/x-www-form-urlencoded, multipart/form-data or application/json"
	msg := "the body has no Content-Type: " + want
	if contentType != "" {
		msg = fmt.Sprintf("Content-Type %s is not supported: %s", quote(contentType), want)
	}
	return &httpError{status: http.StatusUnsupportedMediaType, msg: msg}
}

// readForm takes the parameters from a URL-encoded form body. A body that
// looks like a JSON object is refused with a hint: it is what curl -d sends
// when given JSON, and read as a form it would hold no parameter at all.
func (p *params) readForm(body io.Reader, length int64) error {
	b, err := readBody(body, length)
	if err != nil {
		return err
	}
	if t := bytes.TrimLeft(bytes.TrimPrefix(b, []byte(utf8BOM)), " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return badRequest("the body looks like a JSON object but was sent as a form (Content-Type: %s): send Content-Type: application/json, as with curl --json", formType)
	}
	return p.takeForm(string(b), "the form body", "the form body")
}

// readMultipart takes the parameters from r's multipart form body.
func (p *params) readMultipart(r *http.Request) error {
	err := r.ParseMultipartForm(maxBodyBytes)
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	switch {
	case tooLarge(err):
		return errTooLarge()
	case err != nil: // mime/multipart's errors may quote a whole line of the body
		return badRequest("the form body is malformed: %s", clip(err.Error()))
	}
	return p.take(r.MultipartForm.Value, "the form body")
}

// readBody reads a whole body of length bytes (from Content-Length, at most
// maxBodyBytes), or of unknown length if length < 0. A short body, nearly
// every form, is read into a buffer of its size; a longer one grows as it
// arrives, so that a client declaring 64 KiB and sending nothing holds no
// 64 KiB buffer.
func readBody(body io.Reader, length int64) ([]byte, error) {
	if length < 0 || length > smallBody {
		return readAll(body)
	}
	b := make([]byte, length)
	if _, err := io.ReadFull(body, b); err != nil {
		return nil, badRequest("could not read the body: %s", clip(err.Error()))
	}
	return b, nil
}

// smallBody is the longest body, in bytes, that readBody reads into a
// buffer of the declared size at once.
const smallBody = 1024

// readAll reads a whole body, at most maxBodyBytes long.
func readAll(body io.Reader) ([]byte, error) {
	b, err := io.ReadAll(body)
	switch {
	case err == nil:
		return b, nil
	case tooLarge(err):
		return nil, errTooLarge()
	default:
		return nil, badRequest("could not read the body: %s", clip(err.Error()))
	}
}

func tooLarge(err error) bool {
	var maxErr *http.MaxBytesError
	return errors.As(err, &maxErr)
}

func errTooLarge() error {
	return &httpError{status: http.StatusRequestEntityTooLarge,
		msg: fmt.Sprintf("the body is larger than %d KiB", maxBodyBytes>>10)}
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
		return 0, badRequest("delay %s is not a duration: use a number and a unit, such as 250ms or 1.5s", quote(s))
	case d < 0:
		return 0, badRequest("delay %s is negative", d)
	case d > max:
		return 0, badRequest("delay %s is above this server's maximum of %s", d, max)
	}
	return d, nil
}
