package submit

import (
	"bytes"
	"encoding/json"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"workqueue/internal/respond"
)

// Fields reads the parameters of a request other than POST /work (the
// remote workers' calls) as strictly as Parse reads a submission: from the
// query and from a form or JSON body, a value in the body winning over the
// query; a parameter not in keys, or given twice in one place, is 400
// naming it, and so is a malformed body. A JSON field may be a string, a
// number or a bool (kept as its text: true, 30), or null for absent. The
// answer maps each key given to its value. Every error is a
// *respond.Refusal, 413 for a body over MaxBodyBytes and 415 for a content
// type other than form or JSON. what names the call in errors ("POST
// /work/claim").
func Fields(w http.ResponseWriter, r *http.Request, what string, keys ...string) (map[string]string, error) {
	if err := checkEncoding(r.Header); err != nil {
		w.Header()["Accept-Encoding"] = []string{"identity"}
		return nil, respond.Unread(err)
	}
	known := knownText(keys)
	got := make(map[string]string)
	if r.URL.RawQuery != "" {
		values, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, respond.Unread(respond.BadRequest("the query string is malformed: %v", err))
		}
		if err := takeValues(got, values, keys, "the query", what, known); err != nil {
			return nil, respond.Unread(err)
		}
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return got, nil
	}
	if r.ContentLength > MaxBodyBytes {
		return nil, respond.Unread(errTooLarge(MaxBodyBytes))
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	b, err := readAll(r.Body, MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	switch {
	case mt == FormType:
		values, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, respond.BadRequest("the form body is malformed: %v", err)
		}
		return got, takeValues(got, values, keys, "the form body", what, known)
	case mt == JSONType:
		return got, takeJSON(got, b, keys, what, known)
	case len(bytes.TrimSpace(b)) == 0:
		return got, nil
	}
	return nil, &respond.Refusal{Status: http.StatusUnsupportedMediaType,
		Msg: "Content-Type " + respond.Quote(ct) + " is not supported: send application/x-www-form-urlencoded or application/json"}
}

// takeValues copies values, from one place (where), into got, refusing an
// unknown key (of several, the first in byte order) and a repeated one.
func takeValues(got map[string]string, values url.Values, keys []string, where, what, known string) error {
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if !slices.Contains(keys, k) {
			return respond.BadRequest("%s of %s may hold only %s, not %s", where, what, known, respond.Quote(k))
		}
		if v := values[k]; len(v) > 1 {
			return errRepeated(k, len(v), where)
		}
		got[k] = values[k][0]
	}
	return nil
}

// takeJSON copies the fields of the JSON object b into got, as Fields says.
func takeJSON(got map[string]string, b []byte, keys []string, what, known string) error {
	b = bytes.TrimPrefix(b, []byte(utf8BOM))
	if len(trimJSONSpace(b)) == 0 {
		return nil
	}
	if !utf8.Valid(b) {
		return respond.BadRequest("the JSON body is not valid UTF-8")
	}
	fields, err := decodeObject(b)
	if err != nil {
		return err
	}
	seen := make(map[string]bool)
	for _, f := range fields {
		if !slices.Contains(keys, f.key) {
			return respond.BadRequest("the JSON body of %s may hold only %s, not %s", what, known, respond.Quote(f.key))
		}
		if seen[f.key] {
			return respond.BadRequest("JSON field %s is given twice; give it once", respond.Quote(f.key))
		}
		seen[f.key] = true
		switch jsonKind(f.value) {
		case "null":
		case "string":
			var s string
			if err := json.Unmarshal(f.value, &s); err != nil {
				return respond.BadRequest("JSON field %s is not a valid string", respond.Quote(f.key))
			}
			got[f.key] = s
		case "number", "bool":
			got[f.key] = string(f.value)
		default:
			return respond.BadRequest("JSON field %s must be a string, not %s", respond.Quote(f.key), jsonKind(f.value))
		}
	}
	return nil
}

// knownText names keys for an error: `"wait", "lease" and "worker"`.
func knownText(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = `"` + k + `"`
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}
