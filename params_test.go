package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"workqueue/internal/job"
	"workqueue/internal/submit"
)

const (
	form      = submit.FormType
	textPlain = "text/plain"
)

// multipartBody returns a multipart form holding fields, and its content type.
func multipartBody(t testing.TB, fields ...string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		if err := mw.WriteField(fields[i], fields[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String(), mw.FormDataContentType()
}

// multipartFile returns a multipart form holding the field name with the
// value value and a file part named field, file, and its content type.
func multipartFile(t testing.TB, name, value, field, file string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if err := mw.WriteField(name, value); err != nil {
		t.Fatal(err)
	}
	fw, err := mw.CreateFormFile(field, file)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte(`{"w": 640}`))
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String(), mw.FormDataContentType()
}

// validationCase is a POST /work and what it must get.
type validationCase struct {
	name        string
	method      string // POST if empty
	target      string // /work if empty
	contentType string
	body        string
	wantStatus  int
	wantName    string // of the queued job, for 201
	wantDelay   string // of the queued job, for 201
	wantErr     string // part of the error message, otherwise
	encoding    string // the Content-Encoding header, if not empty
}

// validationCases returns a case for every row of SPEC.md's outcome table
// for POST /work, except the two 503s, which have tests of their own.
func validationCases(t testing.TB) []validationCase {
	long := strings.Repeat("a", submit.MaxNameBytes)
	big := strings.Repeat("a", submit.MaxBodyBytes)
	mpBody, mpType := multipartBody(t, "name", "Multi", "delay", "1s")
	mpBig, mpBigType := multipartBody(t, "name", big)
	mpTwice, mpTwiceType := multipartBody(t, "name", "Mallory", "name", "Alice")
	mpUnknown, mpUnknownType := multipartBody(t, "name", "Multi", "priority", "high")
	mpNotYet, mpNotYetType := multipartBody(t, "name", "Multi", "timeout", "1s")
	mpFile, mpFileType := multipartFile(t, "name", "Multi", "delay", "args.json")
	return []validationCase{
		{name: "query", target: "/work?name=Alice&delay=2s", wantStatus: 201, wantName: "Alice", wantDelay: "2s"},
		{name: "form", contentType: form, body: "name=Bob&delay=250ms", wantStatus: 201, wantName: "Bob", wantDelay: "250ms"},
		{name: "json", contentType: submit.JSONType, body: `{"name": "Carol", "delay": "1.5s"}`, wantStatus: 201, wantName: "Carol", wantDelay: "1.5s"},
		{name: "json with charset", contentType: submit.JSONType + "; charset=utf-8", body: `{"name": "Dan"}`, wantStatus: 201, wantName: "Dan", wantDelay: "0s"},
		{name: "multipart", contentType: mpType, body: mpBody, wantStatus: 201, wantName: "Multi", wantDelay: "1s"},
		{name: "body wins over query", target: "/work?name=Q&delay=1s", contentType: form, body: "name=B", wantStatus: 201, wantName: "B", wantDelay: "1s"},
		{name: "no delay is zero", target: "/work?name=Z", wantStatus: 201, wantName: "Z", wantDelay: "0s"},
		{name: "unicode name", target: "/work?name=%C3%89lodie%20%F0%9F%90%B9", wantStatus: 201, wantName: "Élodie 🐹", wantDelay: "0s"},
		{name: "name of 1024 bytes", contentType: form, body: "name=" + long, wantStatus: 201, wantName: long, wantDelay: "0s"},
		{name: "delay at the maximum", target: "/work?name=M&delay=10s", wantStatus: 201, wantName: "M", wantDelay: "10s"},

		{name: "name missing", target: "/work", wantStatus: 400, wantErr: "name is required"},
		{name: "name empty", target: "/work?name=", wantStatus: 400, wantErr: "name is required"},
		{name: "name empty in body", target: "/work?name=Q", contentType: form, body: "name=", wantStatus: 400, wantErr: "name is required"},
		{name: "name too long", contentType: form, body: "name=a" + long, wantStatus: 400, wantErr: "1025 bytes long; the limit is 1024"},
		{name: "name not UTF-8", target: "/work?name=%FF%FE", wantStatus: 400, wantErr: "not valid UTF-8"},
		{name: "name with newline", target: "/work?name=a%0Aworker1:%20Hello,%20forged!", wantStatus: 400, wantErr: "control character (U+000A)"},
		{name: "name with carriage return", target: "/work?name=a%0Db", wantStatus: 400, wantErr: "control character (U+000D)"},
		{name: "name with tab", target: "/work?name=a%09b", wantStatus: 400, wantErr: "control character (U+0009)"},
		{name: "name with NUL", target: "/work?name=a%00b", wantStatus: 400, wantErr: "control character (U+0000)"},
		{name: "name with DEL", target: "/work?name=a%7F", wantStatus: 400, wantErr: "control character (U+007F)"},
		{name: "name with C1 control", target: "/work?name=a%C2%85", wantStatus: 400, wantErr: "control character (U+0085)"},
		{name: "name with escape in JSON", contentType: submit.JSONType, body: `{"name": "a\u001b[31m"}`, wantStatus: 400, wantErr: "control character (U+001B)"},
		{name: "delay not a duration", target: "/work?name=A&delay=abc", wantStatus: 400, wantErr: `delay "abc" is not a duration`},
		{name: "delay without unit", target: "/work?name=A&delay=5", wantStatus: 400, wantErr: `delay "5" is not a duration`},
		{name: "delay negative", target: "/work?name=A&delay=-1s", wantStatus: 400, wantErr: "delay -1s is negative"},
		{name: "delay above maximum", target: "/work?name=A&delay=10.001s", wantStatus: 400, wantErr: "above this server's maximum of 10s"},
		{name: "malformed query", target: "/work?name=%zz", wantStatus: 400, wantErr: "query string is malformed"},
		{name: "malformed form", contentType: form, body: "name=%zz", wantStatus: 400, wantErr: "form body is malformed"},
		{name: "malformed multipart", contentType: "multipart/form-data", body: "name=x", wantStatus: 400, wantErr: "form body is malformed"},
		{name: "malformed JSON", contentType: submit.JSONType, body: `{"name": "A"`, wantStatus: 400, wantErr: "not valid JSON"},
		{name: "JSON syntax error", contentType: submit.JSONType, body: `{name: A}`, wantStatus: 400, wantErr: "not valid JSON"},
		{name: "JSON name wrong type", contentType: submit.JSONType, body: `{"name": 5}`, wantStatus: 400, wantErr: `JSON field "name" must be a string, not number`},
		{name: "JSON delay wrong type", contentType: submit.JSONType, body: `{"name": "A", "delay": 2}`, wantStatus: 400, wantErr: `JSON field "delay" must be a string, not number`},
		{name: "JSON not an object", contentType: submit.JSONType, body: `["A"]`, wantStatus: 400, wantErr: "must be an object"},
		{name: "JSON unknown field", contentType: submit.JSONType, body: `{"nmae": "A"}`, wantStatus: 400, wantErr: `may hold only "name", "delay", "payload", "run_at", "retries" and "timeout", not "nmae"`},
		{name: "JSON field in another case", contentType: submit.JSONType, body: `{"NAME": "A"}`, wantStatus: 400, wantErr: `may hold only "name", "delay", "payload", "run_at", "retries" and "timeout", not "NAME"`},
		{name: "JSON not UTF-8", contentType: submit.JSONType, body: "{\"name\": \"\xff\"}", wantStatus: 400, wantErr: "not valid UTF-8"},

		{name: "form body too large", contentType: form, body: "name=" + big, wantStatus: 413, wantErr: "larger than 128 KiB"},
		{name: "JSON body too large", contentType: submit.JSONType, body: `{"name": "` + big + `"}`, wantStatus: 413, wantErr: "larger than 128 KiB"},
		{name: "multipart body too large", contentType: mpBigType, body: mpBig, wantStatus: 413, wantErr: "larger than 128 KiB"},

		{name: "text body", contentType: textPlain, body: "Alice", wantStatus: 415, wantErr: `Content-Type "text/plain" is not supported`},
		{name: "XML body", contentType: "application/xml", body: "<name>A</name>", wantStatus: 415, wantErr: "is not supported"},
		{name: "body without content type", body: "name=Alice", wantStatus: 415, wantErr: "the body has no Content-Type"},

		// A body is exactly one JSON object and nothing after it (issue 8, kind 2).
		{name: "JSON then ]garbage", contentType: submit.JSONType, body: `{"name":"Eve"}]garbage[[`, wantStatus: 400, wantErr: "nothing after it"},
		{name: "JSON then }", contentType: submit.JSONType, body: `{"name":"Eve"}}`, wantStatus: 400, wantErr: "nothing after it"},
		{name: "JSON then ]", contentType: submit.JSONType, body: `{"name":"Eve"}]`, wantStatus: 400, wantErr: "nothing after it"},
		{name: "JSON then a word", contentType: submit.JSONType, body: `{"name":"Eve"} x`, wantStatus: 400, wantErr: "nothing after it"},
		{name: "JSON then a number", contentType: submit.JSONType, body: `{"name":"Eve"}0`, wantStatus: 400, wantErr: "nothing after it"},
		{name: "JSON two objects", contentType: submit.JSONType, body: `{"name": "A"} {"name": "B"}`, wantStatus: 400, wantErr: "nothing after it"},
		{name: "JSON two objects no space", contentType: submit.JSONType, body: `{"name":"A"}{"name":"B"}`, wantStatus: 400, wantErr: "nothing after it"},
		{name: "JSON then white space", contentType: submit.JSONType, body: "{\"name\":\"Eve\"} \r\n\t", wantStatus: 201, wantName: "Eve", wantDelay: "0s"},
		{name: "JSON then NBSP", contentType: submit.JSONType, body: "{\"name\":\"Eve\"}\u00a0", wantStatus: 400, wantErr: "nothing after it"},
		// A string holding half a surrogate pair is refused, not turned into U+FFFD.
		{name: "JSON lone high surrogate", contentType: submit.JSONType, body: `{"name":"x\ud800y"}`, wantStatus: 400, wantErr: `\ud800 at byte 10`},
		{name: "JSON lone high surrogate at end", contentType: submit.JSONType, body: `{"name":"x\uD800"}`, wantStatus: 400, wantErr: `\uD800`},
		{name: "JSON unpaired low surrogate", contentType: submit.JSONType, body: `{"name":"x\udc00y"}`, wantStatus: 400, wantErr: `\udc00`},
		{name: "JSON high then not low", contentType: submit.JSONType, body: `{"name":"x\ud800\u0041"}`, wantStatus: 400, wantErr: `\ud800`},
		{name: "JSON high then high", contentType: submit.JSONType, body: `{"name":"x\ud800\ud800\udc00"}`, wantStatus: 400, wantErr: `\ud800 at byte 10`},
		{name: "JSON surrogate in delay", contentType: submit.JSONType, body: `{"name":"A","delay":"\udfff"}`, wantStatus: 400, wantErr: `\udfff`},
		{name: "JSON surrogate in a key", contentType: submit.JSONType, body: `{"name":"A","\ud800":"x"}`, wantStatus: 400, wantErr: "surrogate"},
		{name: "JSON surrogate pair", contentType: submit.JSONType, body: `{"name":"\ud83d\ude00"}`, wantStatus: 201, wantName: "😀", wantDelay: "0s"},
		{name: "JSON escaped backslash before u", contentType: submit.JSONType, body: `{"name":"a\\ud800"}`, wantStatus: 201, wantName: `a\ud800`, wantDelay: "0s"},
		{name: "JSON escaped U+FFFD", contentType: submit.JSONType, body: `{"name":"a\ufffd"}`, wantStatus: 201, wantName: "a\ufffd", wantDelay: "0s"},
		// A parameter given twice in one place is refused, naming it.
		{name: "JSON name twice", contentType: submit.JSONType, body: `{"name":"Mallory","name":"Alice"}`, wantStatus: 400, wantErr: `JSON field "name" is given twice`},
		{name: "JSON name twice, first invalid", contentType: submit.JSONType, body: `{"name":"a\u2028b","name":"Alice"}`, wantStatus: 400, wantErr: `"name" is given twice`},
		{name: "JSON name twice, once escaped", contentType: submit.JSONType, body: `{"name":"A","n\u0061me":"B"}`, wantStatus: 400, wantErr: `"name" is given twice`},
		{name: "JSON name twice, once null", contentType: submit.JSONType, body: `{"name":null,"name":"B"}`, wantStatus: 400, wantErr: `"name" is given twice`},
		{name: "JSON delay twice", contentType: submit.JSONType, body: `{"name":"A","delay":"1s","delay":"2s"}`, wantStatus: 400, wantErr: `JSON field "delay" is given twice`},
		{name: "form name twice", contentType: form, body: "name=Mallory&name=Alice", wantStatus: 400, wantErr: "name is given 2 times in the form body"},
		{name: "form delay twice", contentType: form, body: "name=A&delay=1s&delay=1s", wantStatus: 400, wantErr: "delay is given 2 times in the form body"},
		{name: "multipart name twice", contentType: mpTwiceType, body: mpTwice, wantStatus: 400, wantErr: "name is given 2 times"},
		{name: "query name twice", target: "/work?name=Mallory&name=Alice", wantStatus: 400, wantErr: "name is given 2 times in the query"},
		{name: "query name three times", target: "/work?name=a&name=b&name=c", wantStatus: 400, wantErr: "name is given 3 times in the query"},
		{name: "query delay twice", target: "/work?name=A&delay=1s&delay=2s", wantStatus: 400, wantErr: "delay is given 2 times in the query"},
		{name: "query and JSON once each", target: "/work?name=Q&delay=1s", contentType: submit.JSONType, body: `{"name":"J"}`, wantStatus: 201, wantName: "J", wantDelay: "1s"},
		// RFC 8259 §8.1: a parser may ignore a leading byte order mark.
		{name: "JSON with BOM", contentType: submit.JSONType, body: "\xef\xbb\xbf{\"name\":\"Bom\"}", wantStatus: 201, wantName: "Bom", wantDelay: "0s"},
		{name: "JSON with BOM then space", contentType: submit.JSONType, body: "\xef\xbb\xbf \n{\"name\":\"Bom\"}", wantStatus: 201, wantName: "Bom", wantDelay: "0s"},
		{name: "JSON with two BOMs", contentType: submit.JSONType, body: "\xef\xbb\xbf\xef\xbb\xbf{\"name\":\"Bom\"}", wantStatus: 400, wantErr: "not valid JSON"},
		{name: "JSON with BOM after space", contentType: submit.JSONType, body: " \xef\xbb\xbf{\"name\":\"Bom\"}", wantStatus: 400, wantErr: "not valid JSON"},
		{name: "JSON with BOM, lone surrogate", contentType: submit.JSONType, body: "\xef\xbb\xbf{\"name\":\"\\ud800\"}", wantStatus: 400, wantErr: `\ud800 at byte 12`},
		{name: "JSON of only a BOM", target: "/work?name=Q", contentType: submit.JSONType, body: "\xef\xbb\xbf", wantStatus: 201, wantName: "Q", wantDelay: "0s"},

		// Content codings are refused, even when the query names the job (kind 3).
		{name: "gzip", target: "/work?name=Alice", encoding: "gzip", contentType: form, body: "\x1f\x8b\x08\x00", wantStatus: 415, wantErr: "does not accept encoded bodies"},
		{name: "gzip without a body", target: "/work?name=Alice", encoding: "gzip", wantStatus: 415, wantErr: "does not accept encoded bodies"},
		{name: "GZIP upper case", target: "/work?name=Alice", encoding: "GZIP", contentType: form, body: "x", wantStatus: 415, wantErr: `Content-Encoding "GZIP"`},
		{name: "br in JSON", encoding: "br", contentType: submit.JSONType, body: `{"name":"A"}`, wantStatus: 415, wantErr: "does not accept encoded bodies"},
		{name: "gzip, identity", encoding: "gzip, identity", contentType: form, body: "name=A", wantStatus: 415, wantErr: "does not accept encoded bodies"},
		{name: "identity, deflate", encoding: "identity, deflate", contentType: form, body: "name=A", wantStatus: 415, wantErr: "does not accept encoded bodies"},
		{name: "identity", encoding: "identity", contentType: form, body: "name=Id", wantStatus: 201, wantName: "Id", wantDelay: "0s"},
		{name: "Identity, IDENTITY", encoding: "Identity, IDENTITY", contentType: form, body: "name=Id", wantStatus: 201, wantName: "Id", wantDelay: "0s"},

		// Names that would break, forge or reorder a line for some reader (kind 4).
		{name: "name with line separator", contentType: submit.JSONType, body: `{"name":"Alice\u2028worker1: Hello, Mallory"}`, wantStatus: 400, wantErr: "line or paragraph separator (U+2028) at byte 5"},
		{name: "name with paragraph separator", target: "/work?name=a%E2%80%A9b", wantStatus: 400, wantErr: "line or paragraph separator (U+2029) at byte 1"},
		{name: "name with LRE", target: "/work?name=a%E2%80%AA", wantStatus: 400, wantErr: "bidirectional control (U+202A) at byte 1"},
		{name: "name with RLO", contentType: submit.JSONType, body: `{"name":"evil\u202Etxt.exe"}`, wantStatus: 400, wantErr: "bidirectional control (U+202E) at byte 4"},
		{name: "name with LRI", target: "/work?name=%E2%81%A6x", wantStatus: 400, wantErr: "bidirectional control (U+2066) at byte 0"},
		{name: "name with PDI", contentType: form, body: "name=x%E2%81%A9", wantStatus: 400, wantErr: "bidirectional control (U+2069) at byte 1"},
		{name: "name with LRM", target: "/work?name=a%E2%80%8E", wantStatus: 400, wantErr: "bidirectional control (U+200E)"},
		{name: "name with RLM", target: "/work?name=a%E2%80%8F", wantStatus: 400, wantErr: "bidirectional control (U+200F)"},
		{name: "name with ALM", target: "/work?name=a%D8%9C", wantStatus: 400, wantErr: "bidirectional control (U+061C)"},
		{name: "name of spaces", target: "/work?name=+++", wantStatus: 400, wantErr: "name is blank"},
		{name: "name of one space", contentType: submit.JSONType, body: `{"name":" "}`, wantStatus: 400, wantErr: "name is blank: it holds only white space or invisible characters (U+0020 at byte 0)"},
		{name: "name of NBSP", target: "/work?name=%C2%A0", wantStatus: 400, wantErr: "(U+00A0 at byte 0)"},
		{name: "name of ideographic space", contentType: submit.JSONType, body: `{"name":"\u3000\u3000"}`, wantStatus: 400, wantErr: "(U+3000 at byte 0)"},
		{name: "name of mixed spaces", contentType: submit.JSONType, body: `{"name":" \u00a0\u2003\u3000"}`, wantStatus: 400, wantErr: "name is blank"},
		{name: "name of zero-width space", contentType: submit.JSONType, body: `{"name":"\u200b"}`, wantStatus: 400, wantErr: "name is blank"},
		{name: "name of ZWJ", contentType: submit.JSONType, body: `{"name":"\u200d "}`, wantStatus: 400, wantErr: "name is blank"},
		{name: "name of Hangul filler", contentType: submit.JSONType, body: `{"name":"\u3164"}`, wantStatus: 400, wantErr: "name is blank"},
		{name: "name of BOM", contentType: submit.JSONType, body: `{"name":"\ufeff"}`, wantStatus: 400, wantErr: "name is blank"},
		{name: "emoji ZWJ sequence", contentType: submit.JSONType, body: `{"name":"👩‍💻"}`, wantStatus: 201, wantName: "👩\u200d💻", wantDelay: "0s"},
		{name: "family emoji", target: "/work?name=%F0%9F%91%A8%E2%80%8D%F0%9F%91%A9%E2%80%8D%F0%9F%91%A7", wantStatus: 201, wantName: "👨\u200d👩\u200d👧", wantDelay: "0s"},
		{name: "Arabic name", target: "/work?name=%D8%B3%D9%84%D9%85%D9%89", wantStatus: 201, wantName: "سلمى", wantDelay: "0s"},
		{name: "name with inner spaces", contentType: form, body: "name=+Mary%C2%A0Ann+", wantStatus: 201, wantName: " Mary\u00a0Ann ", wantDelay: "0s"},

		// A POST with no body is judged by its query alone (kind 5).
		{name: "no body, text/plain", target: "/work?name=Alice", contentType: textPlain, wantStatus: 201, wantName: "Alice", wantDelay: "0s"},
		{name: "no body, XML", target: "/work?name=Alice&delay=1s", contentType: "application/xml", wantStatus: 201, wantName: "Alice", wantDelay: "1s"},
		{name: "no body, bad Content-Type", target: "/work?name=Alice", contentType: ";;;", wantStatus: 201, wantName: "Alice", wantDelay: "0s"},
		{name: "no body, JSON", target: "/work?name=Alice", contentType: submit.JSONType, wantStatus: 201, wantName: "Alice", wantDelay: "0s"},
		{name: "no body, form", target: "/work?name=Alice", contentType: form, wantStatus: 201, wantName: "Alice", wantDelay: "0s"},
		{name: "no body, text/plain, no name", contentType: textPlain, wantStatus: 400, wantErr: "name is required"},

		// JSON sent as a form, the commonest mistake (kind 10).
		{name: "JSON as a form", contentType: form, body: `{"name":"x"}`, wantStatus: 400, wantErr: "send Content-Type: application/json"},
		{name: "JSON as a form, spaced", contentType: form, body: "\n  {\"name\": \"x\"}", wantStatus: 400, wantErr: "send Content-Type: application/json"},
		{name: "JSON as a form, with query", target: "/work?name=Q", contentType: form, body: `{"name":"x"}`, wantStatus: 400, wantErr: "looks like a JSON object"},
		{name: "JSON as a form, broken", contentType: form, body: `{name=x`, wantStatus: 400, wantErr: "looks like a JSON object"},

		// Strict everywhere: an unknown parameter is refused in every
		// encoding, named; one a later version takes says it is not supported yet.
		{name: "query unknown", target: "/work?name=A&priority=high", wantStatus: 400, wantErr: `the query may hold only "name", "delay", "payload", "run_at", "retries" and "timeout", not "priority"`},
		{name: "query unknown first", target: "/work?queue=emails&name=A", wantStatus: 400, wantErr: `the query may hold only "name", "delay", "payload", "run_at", "retries" and "timeout", not "queue"`},
		{name: "query unknown escaped", target: "/work?name=A&pri%6Frity=high", wantStatus: 400, wantErr: `not "priority"`},
		{name: "query unknown without value", target: "/work?name=A&verbose", wantStatus: 400, wantErr: `not "verbose"`},
		{name: "query unknown empty key", target: "/work?name=A&=x", wantStatus: 400, wantErr: `not ""`},
		{name: "query unknown case", target: "/work?Name=A", wantStatus: 400, wantErr: `not "Name"`},
		{name: "query unknown with a body", target: "/work?priority=high", contentType: form, body: "name=B", wantStatus: 400, wantErr: `the query may hold only "name", "delay", "payload", "run_at", "retries" and "timeout", not "priority"`},
		{name: "query unknown, name missing", target: "/work?queue=emails", wantStatus: 400, wantErr: `not "queue"`},
		{name: "query run_at", target: "/work?name=A&run_at=2020-12-24T18:00:00Z", wantStatus: 201, wantName: "A", wantDelay: "0s"},
		{name: "query run_at not RFC 3339", target: "/work?name=A&run_at=2026-12-24", wantStatus: 400, wantErr: `run_at "2026-12-24" is not an RFC 3339 time`},
		{name: "query run_at too far ahead", target: "/work?name=A&run_at=2999-01-01T00:00:00Z", wantStatus: 400, wantErr: `more than this server's maximum of 720h0m0s ahead (-max-ahead)`},
		{name: "query payload", target: "/work?name=A&payload=%5B1,2%5D", wantStatus: 201, wantName: "A", wantDelay: "0s"},
		{name: "query payload not JSON", target: "/work?name=A&payload=hello", wantStatus: 400, wantErr: `payload is not JSON`},
		{name: "query retries without a command", target: "/work?name=A&retries=3", wantStatus: 400, wantErr: `retries applies to a job that runs a command`},
		{name: "query empty pairs", target: "/work?&name=A&&delay=1s&", wantStatus: 201, wantName: "A", wantDelay: "1s"},
		{name: "form unknown", contentType: form, body: "name=A&queue=emails", wantStatus: 400, wantErr: `the form body may hold only "name", "delay", "payload", "run_at", "retries" and "timeout", not "queue"`},
		{name: "form unknown, escaped name", contentType: form, body: "name=A+B&zeta=1&alpha=2", wantStatus: 400, wantErr: `the form body may hold only "name", "delay", "payload", "run_at", "retries" and "timeout", not "alpha"`},
		{name: "form unknown, many pairs", contentType: form, body: "name=A" + strings.Repeat("&&", 20) + "&priority=high", wantStatus: 400, wantErr: `not "priority"`},
		{name: "form payload", contentType: form, body: "name=A&payload=%7B%22w%22%3A640%7D", wantStatus: 201, wantName: "A", wantDelay: "0s"},
		{name: "form payload twice", contentType: form, body: "name=A&payload=1&payload=2", wantStatus: 400, wantErr: `payload is given 2 times in the form body`},
		{name: "form payload empty", contentType: form, body: "name=A&payload=", wantStatus: 201, wantName: "A", wantDelay: "0s"}, // as delay=: none
		{name: "form payload two values", contentType: form, body: "name=A&payload=1+2", wantStatus: 400, wantErr: `payload is not JSON`},
		{name: "form payload lone surrogate", contentType: form, body: `name=A&payload="%5Cud800"`, wantStatus: 400, wantErr: `payload holds \ud800 at byte 1`},
		{name: "form payload too large", contentType: form, body: "name=A&payload=" + strings.Repeat("1", submit.DefaultMaxPayload+1), wantStatus: 413, wantErr: `payload is 65537 bytes, above this server's maximum of 64KiB (-max-payload)`},
		{name: "form timeout without a command", contentType: form, body: "name=A&timeout=5s", wantStatus: 400, wantErr: `timeout applies to a job that runs a command`},
		{name: "form empty pairs", contentType: form, body: "name=A&", wantStatus: 201, wantName: "A", wantDelay: "0s"},
		{name: "multipart unknown", contentType: mpUnknownType, body: mpUnknown, wantStatus: 400, wantErr: `the form body may hold only "name", "delay", "payload", "run_at", "retries" and "timeout", not "priority"`},
		{name: "multipart timeout without a command", contentType: mpNotYetType, body: mpNotYet, wantStatus: 400, wantErr: `timeout applies to a job that runs a command`},
		{name: "multipart file", contentType: mpFileType, body: mpFile, wantStatus: 400, wantErr: `the form body holds a file, "delay": POST /work takes no file`},
		{name: "JSON payload", contentType: submit.JSONType, body: `{"name": "A", "payload": {"w": 640}}`, wantStatus: 201, wantName: "A", wantDelay: "0s"},
		{name: "JSON payload null", contentType: submit.JSONType, body: `{"name": "A", "payload": null}`, wantStatus: 201, wantName: "A", wantDelay: "0s"},
		{name: "JSON payload too large", contentType: submit.JSONType, body: `{"name": "A", "payload": "` + strings.Repeat("a", submit.DefaultMaxPayload) + `"}`, wantStatus: 413, wantErr: `above this server's maximum of 64KiB (-max-payload)`},
		{name: "JSON run_at", contentType: submit.JSONType, body: `{"name": "A", "run_at": "2020-12-24T19:00:00+01:00"}`, wantStatus: 201, wantName: "A", wantDelay: "0s"},
		{name: "JSON payload with markup", contentType: submit.JSONType, body: `{"name": "A", "payload": {"h": "<b>&amp;</b>", "é": [1, {"x": null}]}}`, wantStatus: 201, wantName: "A", wantDelay: "0s"},
		{name: "JSON retries and timeout", contentType: submit.JSONType, body: `{"name": "A", "retries": 2, "timeout": "5s"}`, wantStatus: 400, wantErr: "retries applies to a job that runs a command"},
		{name: "JSON run_at a number", contentType: submit.JSONType, body: `{"name": "A", "run_at": 1}`, wantStatus: 400, wantErr: `JSON field "run_at" must be a string, not number`},
		{name: "JSON unknown null", contentType: submit.JSONType, body: `{"name": "A", "priority": null}`, wantStatus: 400, wantErr: `not "priority"`},

		{name: "GET with a job's parameters", method: "GET", target: "/work?name=A", wantStatus: 400, wantErr: "submit a job with POST /work"},
		{name: "PUT", method: "PUT", target: "/work?name=A", wantStatus: 405, wantErr: "PUT is not allowed here; use GET, POST"},
		{name: "DELETE", method: "DELETE", target: "/work", wantStatus: 405, wantErr: "use GET, POST"},
	}
}

// TestCollectorValidation checks every row of SPEC.md's outcome table for
// POST /work, except the two 503s, which have tests of their own.
func TestCollectorValidation(t *testing.T) {
	tests := validationCases(t)
	ts := newTestServer(t, testConfig(), newGate(nil).work)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, target := cmp.Or(tt.method, "POST"), cmp.Or(tt.target, "/work")
			before := ts.stats.Accepted.Load()
			req := httptest.NewRequest(method, target, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			rec := httptest.NewRecorder()
			ts.handler.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("%s %s: status = %d, want %d; body %s", method, target, rec.Code, tt.wantStatus, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if tt.wantStatus != http.StatusCreated {
				if got := decodeError(t, rec.Body.Bytes()); !strings.Contains(got, tt.wantErr) {
					t.Errorf("error = %q, want it to contain %q", got, tt.wantErr)
				}
				if got := ts.stats.Accepted.Load(); got != before {
					t.Errorf("accepted count went from %d to %d for a refused request", before, got)
				}
				if tt.wantStatus == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, POST" {
					t.Errorf("Allow = %q, want GET, POST", rec.Header().Get("Allow"))
				}
				return
			}
			j := decodeJob(t, rec.Body.Bytes())
			if j.Name != tt.wantName || j.Delay != tt.wantDelay {
				t.Errorf("job name, delay = %q, %q; want %q, %q", j.Name, j.Delay, tt.wantName, tt.wantDelay)
			}
			if loc := rec.Header().Get("Location"); loc != "/work/"+j.ID || j.ID == "" {
				t.Errorf("Location = %q for job id %q", loc, j.ID)
			}
			if j.State != "queued" && j.State != "running" {
				t.Errorf("state = %q, want queued or running", j.State)
			}
		})
	}
}

// TestChunkedBodyTooLarge checks a body of unknown length, sent chunked, is
// cut off at 64 KiB with 413, as one whose length is given is refused
// before it is read.
func TestChunkedBodyTooLarge(t *testing.T) {
	ts := newTestServer(t, testConfig(), Sleep)
	for _, size := range []int{submit.MaxBodyBytes - 10, submit.MaxBodyBytes + 1} {
		body := io.MultiReader(strings.NewReader("name="), strings.NewReader(strings.Repeat("a", size-5)))
		req := httptest.NewRequest("POST", "/work", body)
		req.ContentLength = -1
		req.Header.Set("Content-Type", form)
		rec := httptest.NewRecorder()
		ts.handler.ServeHTTP(rec, req)
		want := http.StatusBadRequest // a name that long is refused, once read
		if size > submit.MaxBodyBytes {
			want = http.StatusRequestEntityTooLarge
		}
		if rec.Code != want {
			t.Errorf("chunked body of %d bytes: status %d, want %d; %s", size, rec.Code, want, rec.Body)
		}
	}
}

// TestBodylessChunked checks a chunked POST whose body turns out empty is
// judged by its query alone, whatever its Content-Type, while a chunked
// body of an unsupported type is still refused.
func TestBodylessChunked(t *testing.T) {
	ts := newTestServer(t, testConfig(), Sleep)
	tests := []struct {
		name, contentType, body string
		wantStatus              int
	}{
		{"empty text", textPlain, "", http.StatusCreated},
		{"empty, no type", "", "", http.StatusCreated},
		{"empty form", form, "", http.StatusCreated},
		{"empty JSON", submit.JSONType, "", http.StatusCreated},
		{"text", textPlain, "Alice", http.StatusUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/work?name=Alice", io.MultiReader(strings.NewReader(tt.body)))
			req.ContentLength = -1
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			rec := httptest.NewRecorder()
			ts.handler.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("chunked %q body %q: status %d, want %d; %s", tt.contentType, tt.body, rec.Code, tt.wantStatus, rec.Body)
			}
			if rec.Code == http.StatusCreated {
				if j := decodeJob(t, rec.Body.Bytes()); j.Name != "Alice" {
					t.Errorf("name = %q, want the query's Alice", j.Name)
				}
			}
		})
	}
}

// sentName returns the name a POST /work carried, read with the standard
// library's own parsers, independently of the Collector: the body's, where
// the body has one, else the query's.
func sentName(contentType, query string, body []byte) string {
	q, _ := url.ParseQuery(query)
	name := q.Get("name")
	mediaType, _, _ := mime.ParseMediaType(contentType)
	switch mediaType {
	case submit.FormType, submit.MultipartType:
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.ParseMultipartForm(submit.MaxBodyBytes)
		if v, ok := r.PostForm["name"]; ok {
			name = v[0]
		}
	case submit.JSONType:
		var v map[string]any
		if json.Unmarshal(bytes.TrimPrefix(body, []byte("\uFEFF")), &v) == nil {
			if s, ok := v["name"].(string); ok {
				name = s
			}
		}
	}
	return name
}

// FuzzCollector drives the real handler with arbitrary methods, content
// types, queries and bodies. It never panics and answers only 201, 400,
// 405, 413, 415 or 503, always in JSON; a 201 carries a well-formed job
// whose name is exactly the one sent, and only for a request that keeps
// every rule of SPEC.md (see checkAccepted). Seeded with every validation
// case. make test fuzzes it for a few seconds; make stress for minutes.
func FuzzCollector(f *testing.F) {
	for _, c := range validationCases(f) {
		if c.encoding != "" {
			continue // a header the fuzzer does not vary
		}
		target := cmp.Or(c.target, "/work")
		_, query, _ := strings.Cut(target, "?")
		f.Add(cmp.Or(c.method, "POST"), c.contentType, query, []byte(c.body))
	}
	cfg := testConfig()
	cfg.LogLevel = slog.LevelError
	cfg.Command = []string{"true"} // so that retries, timeout and a delayed run_at are taken; the work is noop
	noop := func(context.Context, *WorkRequest) error { return nil }
	s := newServer(cfg, noop, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.start()
	f.Cleanup(func() { s.drain(context.Background()) })

	allowed := map[int]bool{201: true, 400: true, 405: true, 413: true, 415: true, 503: true}
	f.Fuzz(func(t *testing.T, method, contentType, query string, body []byte) {
		if !validMethod(method) {
			return // no client can send it
		}
		req := &http.Request{
			Method:        method,
			URL:           &url.URL{Path: "/work", RawQuery: query},
			Header:        http.Header{},
			Body:          io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)),
			RequestURI:    "/work?" + query,
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("%s /work?%q (%q, %q): status %d", method, query, contentType, body, rec.Code)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d with a body that is not JSON: %q", rec.Code, rec.Body)
		}
		if rec.Code != http.StatusCreated {
			return
		}
		j := decodeJob(t, rec.Body.Bytes())
		if want := sentName(contentType, query, body); j.Name != want {
			t.Fatalf("job name %q, want the name sent, %q", j.Name, want)
		}
		if err := submit.CheckName(j.Name); err != nil {
			t.Fatalf("accepted a name it should refuse: %v", err)
		}
		if err := checkAccepted(contentType, query, body, j.Name); err != nil {
			t.Fatalf("accepted %q /work?%q with body %q: %v", contentType, query, body, err)
		}
		if _, err := time.ParseDuration(j.Delay); err != nil || j.ID == "" || rec.Header().Get("Location") != "/work/"+j.ID {
			t.Fatalf("malformed job %+v, Location %q", j, rec.Header().Get("Location"))
		}
		if err := checkCarried(contentType, query, body, j); err != nil {
			t.Fatalf("accepted %q /work?%q with body %q as %+v: %v", contentType, query, body, j, err)
		}
	})
}

// checkCarried returns an error if j, a job answered 201, does not carry
// the payload, run_at, retries and timeout sent, read with the standard
// library's own parsers: the payload as sent without the white space around
// it, JSON of at most 64 KiB; run_at an RFC 3339 time, or, for a delayed
// job, its acceptance plus its delay; retries from 0 to 25; a timeout above
// 0 and at most 24h.
func checkCarried(contentType, query string, body []byte, j job.View) error {
	payload, _ := sentValue(contentType, query, body, "payload")
	if payload = strings.Trim(payload, " \t\r\n"); payload == "null" {
		payload = ""
	}
	switch {
	case string(j.Payload) != payload:
		return fmt.Errorf("payload %q, want %q as sent", j.Payload, payload)
	case payload != "" && (!json.Valid(j.Payload) || len(j.Payload) > submit.DefaultMaxPayload):
		return errors.New("a payload that is not JSON, or above -max-payload")
	}
	delay, _ := time.ParseDuration(j.Delay)
	runAt, given := sentValue(contentType, query, body, "run_at")
	switch t, err := time.Parse(time.RFC3339Nano, runAt); {
	case given && runAt != "" && (err != nil || !j.RunAt.Equal(t)):
		return fmt.Errorf("run_at %v, want %q as sent (%v)", j.RunAt, runAt, err)
	case (!given || runAt == "") && delay > 0 && !j.RunAt.Equal(j.EnqueuedAt.Add(delay)):
		return fmt.Errorf("run_at %v, want enqueued_at + delay", j.RunAt)
	case (!given || runAt == "") && delay == 0 && !j.RunAt.IsZero():
		return fmt.Errorf("run_at %v, with none sent", j.RunAt)
	}
	if j.Retries != nil && (*j.Retries < 0 || *j.Retries > 25) {
		return fmt.Errorf("retries %d, outside [0, 25]", *j.Retries)
	}
	if d, err := time.ParseDuration(j.Timeout); j.Timeout != "" && (err != nil || d <= 0 || d > 24*time.Hour) {
		return fmt.Errorf("timeout %q, outside (0, 24h]", j.Timeout)
	}
	return nil
}

// sentValue returns the parameter key a POST /work carried, as sentName
// reads it: a JSON string unquoted, any other JSON value as its text.
func sentValue(contentType, query string, body []byte, key string) (string, bool) {
	q, _ := url.ParseQuery(query)
	v, ok := q.Get(key), q.Has(key)
	mediaType, _, _ := mime.ParseMediaType(contentType)
	switch mediaType {
	case submit.FormType, submit.MultipartType:
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.ParseMultipartForm(submit.MaxBodyBytes)
		if vs, has := r.PostForm[key]; has {
			v, ok = vs[0], true
		}
	case submit.JSONType:
		var m map[string]json.RawMessage
		if json.Unmarshal(bytes.TrimPrefix(body, []byte("\uFEFF")), &m) == nil {
			if raw, has := m[key]; has && string(raw) != "null" {
				v, ok = string(raw), true
				if key != "payload" {
					json.Unmarshal(raw, &v)
				}
			} else if has {
				v, ok = "", false
			}
		}
	}
	return v, ok
}

// checkAccepted returns an error if a request answered 201 broke one of
// SPEC.md's rules for POST /work, each checked here without the server's
// own code: a parameter given twice in one place, a parameter other than
// name and delay in any of them, a multipart body holding a file, a form body that is JSON,
// a JSON body that is not exactly one object or that holds a lone
// surrogate escape, a name with a character that breaks or reorders lines,
// or a blank one.
func checkAccepted(contentType, query string, body []byte, name string) error {
	q, _ := url.ParseQuery(query)
	if twice(q) {
		return errors.New("a parameter was given twice in the query")
	}
	if err := onlyKnown(slices.Collect(maps.Keys(q)), "the query"); err != nil {
		return err
	}
	mediaType, _, _ := mime.ParseMediaType(contentType)
	if len(body) > 0 && mediaType == submit.MultipartType {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		if r.ParseMultipartForm(submit.MaxBodyBytes) == nil {
			defer r.MultipartForm.RemoveAll()
			if len(r.MultipartForm.File) > 0 {
				return errors.New("a multipart body holding a file")
			}
			if err := onlyKnown(slices.Collect(maps.Keys(r.MultipartForm.Value)), "the multipart body"); err != nil {
				return err
			}
		}
	}
	if len(body) > 0 && mediaType == submit.FormType {
		f, _ := url.ParseQuery(string(body))
		if twice(f) {
			return errors.New("a parameter was given twice in the form body")
		}
		if err := onlyKnown(slices.Collect(maps.Keys(f)), "the form body"); err != nil {
			return err
		}
		if t := bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\uFEFF")), " \t\r\n"); len(t) > 0 && t[0] == '{' {
			return errors.New("a form body that looks like JSON")
		}
	}
	if text := bytes.TrimPrefix(body, []byte("\uFEFF")); mediaType == submit.JSONType && len(bytes.Trim(text, " \t\r\n")) > 0 {
		if !json.Valid(text) {
			return errors.New("a JSON body that is not one JSON value and nothing after it")
		}
		keys, ok := objectKeys(text)
		if !ok {
			return errors.New("a JSON body that is not an object")
		}
		for i, k := range keys {
			if slices.Contains(keys[:i], k) {
				return fmt.Errorf("JSON field %q given twice", k)
			}
		}
		if err := onlyKnown(keys, "the JSON body"); err != nil {
			return err
		}
		if strings.ContainsRune(name, utf8.RuneError) && !bytes.Contains(text, []byte("\uFFFD")) &&
			!bytes.Contains(bytes.ToLower(text), []byte(`\ufffd`)) && !strings.ContainsRune(q.Get("name"), utf8.RuneError) {
			return errors.New("U+FFFD in the name, but not in what was sent: a lone surrogate was replaced")
		}
	}
	visible := false
	for _, c := range name {
		if unicode.In(c, unicode.Cc, unicode.Zl, unicode.Zp, unicode.Bidi_Control) {
			return fmt.Errorf("the name holds %U", c)
		}
		visible = visible || !unicode.IsSpace(c)
	}
	if !visible {
		return errors.New("the name is only white space")
	}
	return nil
}

// twice reports whether vs holds a parameter more than once.
func twice(vs url.Values) bool {
	for _, v := range vs {
		if len(v) > 1 {
			return true
		}
	}
	return false
}

// onlyKnown returns an error if keys, the parameters sent in where, hold one
// that POST /work does not take.
func onlyKnown(keys []string, where string) error {
	for _, k := range keys {
		if !slices.Contains([]string{"name", "delay", "payload", "run_at", "retries", "timeout"}, k) {
			return fmt.Errorf("%s held the unknown parameter %q", where, k)
		}
	}
	return nil
}

// objectKeys returns the keys of the JSON object text, in order, with
// duplicates, and whether text is an object.
func objectKeys(text []byte) ([]string, bool) {
	dec := json.NewDecoder(bytes.NewReader(text))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		var skip json.RawMessage
		if err != nil || dec.Decode(&skip) != nil {
			return nil, false
		}
		keys = append(keys, tok.(string))
	}
	return keys, true
}

// validMethod reports whether m is a token, as an HTTP method must be.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range []byte(m) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}
