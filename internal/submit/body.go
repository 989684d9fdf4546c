package submit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"

	"workqueue/internal/respond"
)

// The content types a POST /work body may have, with or without parameters
// such as charset.
const (
	// FormType is a URL-encoded form body, as curl -d sends.
	FormType = "application/x-www-form-urlencoded"
	// MultipartType is a multipart form body (RFC 7578), as curl -F sends.
	MultipartType = "multipart/form-data"
	// JSONType is a JSON body (RFC 8259), as curl --json sends.
	JSONType = "application/json"
)

// readBody overrides p with the parameters given in r's body, if it has
// one, of at most max bytes. A request without a body is judged by its query alone, whatever its
// Content-Type says.
func (p *params) readBody(w http.ResponseWriter, r *http.Request, max int64) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	if r.ContentLength > max {
		return respond.Unread(errTooLarge(max))
	}
	ct := r.Header.Get("Content-Type")
	mediaType := ct
	switch ct {
	case FormType, MultipartType, JSONType: // as most clients send them
	default:
		if mt, _, err := mime.ParseMediaType(ct); err == nil {
			mediaType = mt
		}
	}
	switch mediaType {
	case FormType, MultipartType, JSONType:
	default:
		if r.ContentLength > 0 {
			return respond.Unread(errUnsupported(ct))
		}
		if bodyEmpty(r.Body) { // chunked, with no chunk
			return nil
		}
		return errUnsupported(ct)
	}
	if r.ContentLength < 0 { // length unknown: chunked
		r.Body = http.MaxBytesReader(w, r.Body, max)
	}
	switch mediaType {
	case FormType:
		return p.readForm(r.Body, r.ContentLength, max)
	case MultipartType:
		return p.readMultipart(r, max)
	}
	return p.readJSON(r.Body, max)
}

// bodyEmpty reports whether body ends before its first byte.
func bodyEmpty(body io.Reader) bool {
	var b [1]byte
	n, _ := io.ReadFull(body, b[:])
	return n == 0
}

func errUnsupported(contentType string) error {
	const want = "send application/x-www-form-urlencoded, multipart/form-data, application/json or, for a batch, application/x-ndjson"
	msg := "the body has no Content-Type: " + want
	if contentType != "" {
		msg = fmt.Sprintf("Content-Type %s is not supported: %s", respond.Quote(contentType), want)
	}
	return &respond.Refusal{Status: http.StatusUnsupportedMediaType, Msg: msg}
}

// readForm takes the parameters from a URL-encoded form body. A body that
// looks like a JSON object is refused with a hint: it is what curl -d sends
// when given JSON, and read as a form it would hold no parameter at all.
func (p *params) readForm(body io.Reader, length, max int64) error {
	b, err := readContent(body, length, max)
	if err != nil {
		return err
	}
	if t := bytes.TrimLeft(bytes.TrimPrefix(b, []byte(utf8BOM)), " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return respond.BadRequest("the body looks like a JSON object but was sent as a form (Content-Type: %s): send Content-Type: application/json, as with curl --json", FormType)
	}
	return p.takeForm(string(b), "the form body", "the form body")
}

// readMultipart takes the parameters from r's multipart form body.
func (p *params) readMultipart(r *http.Request, max int64) error {
	err := r.ParseMultipartForm(max)
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	switch {
	case tooLarge(err):
		return errTooLarge(max)
	case err != nil: // mime/multipart's errors may quote a whole line of the body
		return respond.BadRequest("the form body is malformed: %s", respond.Clip(err.Error()))
	}
	if len(r.MultipartForm.File) > 0 { // of several, name the first in byte order
		files := slices.Sorted(maps.Keys(r.MultipartForm.File))
		return respond.BadRequest("the form body holds a file, %s: POST /work takes no file, only the fields %s (curl -F name=Alice, not -F name=@file)", respond.Quote(files[0]), known)
	}
	return p.take(r.MultipartForm.Value, "the form body")
}

// readContent reads a whole body of length bytes (from Content-Length, at most
// max), or of unknown length if length < 0. A short body, nearly
// every form, is read into a buffer of its size; a longer one grows as it
// arrives, so that a client declaring 64 KiB and sending nothing holds no
// 64 KiB buffer.
func readContent(body io.Reader, length, max int64) ([]byte, error) {
	if length < 0 || length > smallBody {
		return readAll(body, max)
	}
	b := make([]byte, length)
	if _, err := io.ReadFull(body, b); err != nil {
		return nil, respond.BadRequest("could not read the body: %s", respond.Clip(err.Error()))
	}
	return b, nil
}

// smallBody is the longest body, in bytes, that readContent reads into a
// buffer of the declared size at once.
const smallBody = 1024

// readAll reads a whole body, at most max bytes long (its reader, a
// http.MaxBytesReader, says so).
func readAll(body io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(body)
	switch {
	case err == nil:
		return b, nil
	case tooLarge(err):
		return nil, errTooLarge(max)
	default:
		return nil, respond.BadRequest("could not read the body: %s", respond.Clip(err.Error()))
	}
}

func tooLarge(err error) bool {
	var maxErr *http.MaxBytesError
	return errors.As(err, &maxErr)
}

// errTooLarge refuses a body of more than max bytes.
func errTooLarge(max int64) error {
	return &respond.Refusal{Status: http.StatusRequestEntityTooLarge,
		Msg: fmt.Sprintf("the body is larger than %d KiB (-max-payload and 64 KiB for the rest)", max>>10)}
}
