package submit

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"workqueue/internal/respond"
)

// checkPayload returns p's payload as the job keeps it: nil for none (or
// JSON null), else its JSON text without the white space around it (a file
// sent with curl --data-urlencode payload@args.json ends in a newline),
// every other byte as sent. It is 413 past max bytes, and 400 when a
// payload from a form or the query is not one JSON text (RFC 8259), is not
// UTF-8, or holds a lone surrogate escape, as a JSON body may not.
func (p *params) checkPayload(max int) ([]byte, error) {
	if p.payload == "" && !p.payloadJSON {
		return nil, nil
	}
	text := trimJSONSpace([]byte(p.payload))
	if len(text) > max {
		return nil, &respond.Refusal{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf(
			"payload is %d bytes, above this server's maximum of %s (-max-payload)", len(text), FormatSize(max))}
	}
	if p.payloadJSON {
		return text, nil
	}
	switch {
	case len(text) == 0:
		return nil, respond.BadRequest(`payload is empty: give it as JSON text, such as payload={"w":640}, or leave it out`)
	case !utf8.Valid(text):
		return nil, respond.BadRequest("payload is not valid UTF-8")
	case !json.Valid(text):
		return nil, respond.BadRequest(`payload is not JSON: %v (a JSON string needs its quotes, as in payload="text")`, jsonSyntax(text))
	}
	if i := loneSurrogate(text); i >= 0 {
		return nil, respond.BadRequest("payload holds %s at byte %d, half of a UTF-16 surrogate pair: it encodes no character", text[i:i+6], i)
	}
	if string(text) == "null" {
		return nil, nil
	}
	return text, nil
}

// jsonSyntax returns why text is not JSON, in encoding/json's words, which
// quote at most one character of it.
func jsonSyntax(text []byte) error {
	var v any
	if err := json.Unmarshal(text, &v); err != nil {
		return err
	}
	return fmt.Errorf("not one JSON value")
}

// DefaultMaxAhead is how far ahead run_at may be when Limits says nothing
// (-max-ahead's default, 30 days).
const DefaultMaxAhead = 720 * time.Hour

// checkRunAt returns p's run_at, an RFC 3339 time with any offset, or the
// zero time for none. A time in the past is kept (the job runs now); one
// more than lim.MaxAhead after now is 400, and so is run_at with a delay
// when the delay is itself a time to run (-- COMMAND): one job, one time.
func (p *params) checkRunAt(lim Limits, now time.Time) (time.Time, error) {
	if p.runAt == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, p.runAt)
	if err != nil {
		return time.Time{}, respond.BadRequest("run_at %s is not an RFC 3339 time: use one such as 2026-12-24T18:00:00Z or 2026-12-24T19:00:00+01:00", respond.Quote(p.runAt))
	}
	ahead := cmp.Or(lim.MaxAhead, DefaultMaxAhead)
	if t.Sub(now) > ahead {
		return time.Time{}, respond.BadRequest("run_at %s is more than this server's maximum of %s ahead (-max-ahead)", respond.Quote(p.runAt), ahead)
	}
	if lim.Command && p.delay != "" {
		if d, _ := time.ParseDuration(p.delay); d > 0 {
			return time.Time{}, respond.BadRequest("give run_at or delay, not both: with a command, delay %s means run_at now + %s", d, d)
		}
	}
	return t, nil
}

// FormatSize writes n bytes as the flags write sizes: in MiB or KiB when it
// is a whole number of them (1MiB, 64KiB), else in bytes (512).
func FormatSize(n int) string {
	switch {
	case n > 0 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "MiB"
	case n > 0 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n)
}
