package respond

import (
	"strconv"
	"unicode/utf8"
)

// maxEcho is the most bytes of a client's input that an error message
// quotes: enough to recognize it, never an echo of a 60 KB path.
const maxEcho = 64

// Clip returns s, or its first 64 bytes at most, cut at a character
// boundary, followed by "…".
func Clip(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	i := maxEcho
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// Quote quotes Clip(s) for an error message, escaping anything unprintable
// (control characters, line separators and bidirectional controls among
// them), as strconv.Quote does.
func Quote(s string) string {
	return strconv.Quote(Clip(s))
}
