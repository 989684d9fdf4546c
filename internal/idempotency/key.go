package idempotency

import (
	"errors"
	"strconv"
	"strings"
)

// maxKeyBytes is the longest idempotency key, in bytes.
const maxKeyBytes = 255

// errBadKey says what an Idempotency-Key must be.
var errBadKey = errors.New(`Idempotency-Key must be 1 to 255 visible ASCII characters (0x21-0x7E), ` +
	`bare or in double quotes as a structured-field string: Idempotency-Key: "8e03978e-40d5"`)

// ParseKey returns the key that the Idempotency-Key header values
// vs carry (draft-ietf-httpapi-idempotency-key-header, section 2: the value
// is an sf-string, RFC 8941 section 3.3.3). A value in double quotes, with
// \" and \\ escapes, is the same key as its content given bare. The key is 1
// to 255 visible ASCII characters; a bare key may not begin or end with a
// double quote. Anything else, or the header given twice, is errBadKey.
func ParseKey(vs []string) (string, error) {
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
