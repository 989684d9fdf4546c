package submit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf16"
	"unicode/utf8"

	"workqueue/internal/respond"
)

// utf8BOM is the UTF-8 byte order mark, which RFC 8259 §8.1 lets a parser
// ignore before a JSON text.
const utf8BOM = "\uFEFF"

// jsonExample is the shape of a JSON body, for error messages.
const jsonExample = `{"name": "Alice", "delay": "2s"}`

// readJSON takes the parameters from a JSON body: exactly one object, with
// the string fields "name", "delay", "run_at" and "timeout", the number
// "retries" and "payload", any value, each at most once, and nothing after
// it but white space (RFC 8259). A leading byte order mark is skipped; a
// body of only white space holds no parameter.
func (p *params) readJSON(body io.Reader, max int64) error {
	b, err := readAll(body, max)
	if err != nil {
		return err
	}
	return p.takeJSON(b)
}

// takeJSON takes the parameters from b, one JSON object as readJSON reads
// it: a single job's body, or one job of a batch.
func (p *params) takeJSON(b []byte) error {
	start := 0
	if bytes.HasPrefix(b, []byte(utf8BOM)) {
		start = len(utf8BOM)
	}
	text := b[start:]
	if len(trimJSONSpace(text)) == 0 {
		return nil
	}
	if !utf8.Valid(text) {
		return respond.BadRequest("the JSON body is not valid UTF-8")
	}
	fields, err := decodeObject(text)
	if err != nil {
		return err
	}
	// encoding/json turns an escaped lone surrogate into U+FFFD without a
	// word: look for one in the text itself, now known to be valid JSON.
	if i := loneSurrogate(text); i >= 0 {
		return respond.BadRequest("the JSON body holds %s at byte %d, half of a UTF-16 surrogate pair: it encodes no character", text[i:i+6], start+i)
	}
	for i, f := range fields {
		if p.field(f.key) == nil {
			return errUnknown(f.key, "the JSON body")
		}
		for _, g := range fields[:i] {
			if g.key == f.key {
				return respond.BadRequest("JSON field %s is given twice; give it once", respond.Quote(f.key))
			}
		}
	}
	for _, f := range fields {
		if f.key == "payload" { // any JSON value, kept as sent; null counts as absent
			if string(f.value) != "null" {
				p.payload, p.payloadJSON = string(f.value), true
			}
			continue
		}
		if f.key == "retries" { // a number, kept as its text for the check that a form's gets
			switch {
			case string(f.value) == "null":
			case jsonKind(f.value) != "number":
				return respond.BadRequest(`JSON field "retries" must be a number, not %s`, jsonKind(f.value))
			default:
				p.retries = string(f.value)
			}
			continue
		}
		var v *string
		if err := json.Unmarshal(f.value, &v); err != nil {
			return respond.BadRequest(`JSON field %s must be a string, not %s`, respond.Quote(f.key), jsonKind(f.value))
		}
		if v != nil { // null counts as absent
			*p.field(f.key) = *v
		}
	}
	return nil
}

// jsonField is one member of a JSON object, its value still encoded.
type jsonField struct {
	key   string
	value json.RawMessage
}

// decodeObject decodes b as one JSON object and nothing after it, and
// returns its members in order, duplicates included. Keys are unescaped
// ("n\u0061me" is "name") but kept in their case: encoding/json would
// match struct fields regardless of case, and {"NAME": ...} is not a field
// this API has.
func decodeObject(b []byte) ([]jsonField, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	if tok != json.Delim('{') {
		return nil, respond.BadRequest("the JSON body must be an object such as %s, not %s", jsonExample, tokenKind(tok))
	}
	var fields []jsonField
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		key, _ := tok.(string) // an object's keys are strings
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, jsonError(err)
		}
		fields = append(fields, jsonField{key, value})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, jsonError(err)
	}
	if rest := trimJSONSpace(b[dec.InputOffset():]); len(rest) > 0 {
		return nil, respond.BadRequest("the JSON body must be one object and nothing after it, but %s follows the object", respond.Quote(string(rest)))
	}
	return fields, nil
}

// loneSurrogate returns the offset in b, a valid JSON text, of the first
// \u escape that encodes half of a UTF-16 surrogate pair without the other
// half, or -1 if there is none.
func loneSurrogate(b []byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' { // in valid JSON, a backslash only ever starts an escape
			continue
		}
		if b[i+1] != 'u' {
			i++ // skip the escaped character, which may be a backslash
			continue
		}
		r := hex4(b[i+2 : i+6])
		switch {
		case 0xDC00 <= r && r <= 0xDFFF: // a low half first
			return i
		case 0xD800 <= r && r <= 0xDBFF:
			if len(b) < i+12 || b[i+6] != '\\' || b[i+7] != 'u' ||
				utf16.DecodeRune(r, hex4(b[i+8:i+12])) == utf8.RuneError {
				return i
			}
			i += 11
		default:
			i += 5
		}
	}
	return -1
}

// hex4 decodes four hexadecimal digits, as a valid \u escape holds.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// trimJSONSpace returns b without its leading and trailing JSON white space
// (RFC 8259 §2: space, tab, line feed, carriage return; not U+00A0).
func trimJSONSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

// jsonKind names the kind of an encoded JSON value: string, number, ...
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

// tokenKind names the kind of the value a json.Token begins.
func tokenKind(tok json.Token) string {
	switch tok.(type) {
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return "array" // the only other token a value may begin with
}

// jsonError describes an error decoding the JSON body in terms the client
// can act on. encoding/json's errors quote at most one character of the
// input.
func jsonError(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF // the text ended inside the object
	}
	return respond.BadRequest("the body is not valid JSON: %v", err)
}
