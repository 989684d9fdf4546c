package submit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"workqueue/internal/respond"
)

// NDJSONType is a body of newline-delimited JSON, one job object a line: a
// batch (https://github.com/ndjson/ndjson-spec).
const NDJSONType = "application/x-ndjson"

// Limits on a batch, SPEC "Many jobs in one request".
const (
	// MaxBatchBytes is the largest batch body, in bytes (16 MiB): Read
	// refuses a larger one with 413.
	MaxBatchBytes = 16 << 20
	// DefaultMaxBatch is the most jobs in one batch when Limits says none
	// (-max-batch's default).
	DefaultMaxBatch = 1000
	// MaxMaxBatch is the largest -max-batch.
	MaxMaxBatch = 100_000
)

// Read reads and checks a POST /work: a single job, as Parse does, or a
// batch, returned as jobs (nil for a single job), in the order given. A
// batch is a JSON array of job objects (Content-Type application/json) or
// NDJSON (NDJSONType: one job object a line, empty lines skipped), each
// object read as a single JSON body is. It is checked whole: an error
// (a *respond.Refusal, as Parse's) names the first bad job, "job 7: ..."
// by its position in the array or "line 7: ..." by its line, both counted
// from 1; 413 for a body over MaxBatchBytes or more than lim.MaxBatch jobs;
// 400 for an empty batch or a batch with a query string.
func Read(w http.ResponseWriter, r *http.Request, lim Limits) (Submission, []Submission, error) {
	lines, ok := batchBody(r)
	if !ok {
		sub, err := Parse(w, r, lim)
		return sub, nil, err
	}
	if r.URL.RawQuery != "" {
		return Submission{}, nil, respond.Unread(respond.BadRequest("a batch's jobs take their parameters from the body: send no query string with it"))
	}
	if r.ContentLength > MaxBatchBytes {
		return Submission{}, nil, respond.Unread(errBatchTooLarge())
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBatchBytes))
	switch {
	case tooLarge(err):
		return Submission{}, nil, errBatchTooLarge()
	case err != nil:
		return Submission{}, nil, respond.BadRequest("could not read the body: %s", respond.Clip(err.Error()))
	}
	b = bytes.TrimPrefix(b, []byte(utf8BOM))
	max := lim.MaxBatch
	if max <= 0 {
		max = DefaultMaxBatch
	}
	var objs [][]byte
	var pos []int // each job's position, for errors: its line, or its place in the array
	if lines {
		objs, pos, err = splitLines(b, max)
	} else {
		objs, err = splitArray(b, max)
	}
	if err != nil {
		return Submission{}, nil, err
	}
	if len(objs) == 0 {
		return Submission{}, nil, respond.BadRequest("the batch holds no job: send at least one job object")
	}
	jobs := make([]Submission, len(objs))
	for i, obj := range objs {
		where := "job " + strconv.Itoa(i+1)
		if lines {
			where = "line " + strconv.Itoa(pos[i])
		}
		var p params
		err := p.takeJSON(obj)
		if err == nil {
			jobs[i], err = p.check(lim)
		}
		if err != nil {
			return Submission{}, nil, prefixed(err, where)
		}
	}
	return Submission{}, jobs, nil
}

// batchBody reports whether r's body is a batch, and whether its lines
// are: NDJSON, or JSON whose first character past a byte order mark and
// white space is '['. It may read the start of the body, and puts what it
// read back in front of the rest.
func batchBody(r *http.Request) (lines, ok bool) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || checkEncoding(r.Header) != nil {
		return false, false
	}
	ct := r.Header.Get("Content-Type")
	if ct != JSONType && ct != NDJSONType {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return false, false
		}
		ct = mt
	}
	switch ct {
	case NDJSONType:
		return true, true
	case JSONType:
	default:
		return false, false
	}
	br := bufio.NewReaderSize(r.Body, 512)
	var lead []byte
	for len(lead) < MaxBodyBytes {
		c, err := br.ReadByte()
		if err != nil {
			break
		}
		lead = append(lead, c)
		if strings.IndexByte(" \t\r\n\xEF\xBB\xBF", c) < 0 { // white space, or a byte of a BOM
			ok = c == '['
			break
		}
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(lead), br), r.Body}
	return false, ok
}

// splitArray returns the elements of b, a JSON array, still encoded,
// refusing more than max of them with 413.
func splitArray(b []byte, max int) ([][]byte, error) {
	if !utf8.Valid(b) {
		return nil, respond.BadRequest("the JSON body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil { // the '[' batchBody saw
		return nil, jsonError(err)
	}
	var objs [][]byte
	for dec.More() {
		if len(objs) == max {
			return nil, errTooMany(max)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, prefixed(jsonError(err), "job "+strconv.Itoa(len(objs)+1))
		}
		objs = append(objs, raw)
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return nil, jsonError(err)
	}
	if rest := trimJSONSpace(b[dec.InputOffset():]); len(rest) > 0 {
		return nil, respond.BadRequest("the JSON body must be one array of jobs and nothing after it, but %s follows the array", respond.Quote(string(rest)))
	}
	return objs, nil
}

// splitLines returns the non-empty lines of b, NDJSON, and their line
// numbers, counted from 1, refusing more than max of them with 413. A line
// ends with "\n"; a "\r" before it and white space around the object are
// trimmed.
func splitLines(b []byte, max int) (objs [][]byte, pos []int, err error) {
	n := 0
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		n++
		if line = trimJSONSpace(line); len(line) == 0 {
			continue
		}
		if len(objs) == max {
			return nil, nil, errTooMany(max)
		}
		objs, pos = append(objs, line), append(pos, n)
	}
	return objs, pos, nil
}

// prefixed returns err, a *respond.Refusal, with its message prefixed by
// where the job it is about is: "job 7: ...".
func prefixed(err error, where string) error {
	if e, ok := err.(*respond.Refusal); ok {
		e.Msg = where + ": " + e.Msg
	}
	return err
}

func errTooMany(max int) error {
	return &respond.Refusal{Status: http.StatusRequestEntityTooLarge,
		Msg: fmt.Sprintf("the batch holds more than %d jobs, this server's most (-max-batch): send it in smaller batches", max)}
}

func errBatchTooLarge() error {
	return &respond.Refusal{Status: http.StatusRequestEntityTooLarge,
		Msg: fmt.Sprintf("the body is larger than %d MiB, the most a batch may be: send it in smaller batches", MaxBatchBytes>>20)}
}
