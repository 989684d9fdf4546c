package submit

import (
	"unicode"
	"unicode/utf8"

	"workqueue/internal/respond"
)

// CheckName reports whether name is one a worker may greet: present, not too
// long, valid UTF-8, free of anything that breaks or reorders a line, and
// not blank. Then its greeting is one line, shown as sent, for any reader:
// a terminal, a log viewer, an editor or a browser. Its error is a
// *respond.Refusal, a 400 saying what is wrong and where.
func CheckName(name string) error {
	switch {
	case name == "":
		return respond.BadRequest(`name is required: POST /work?name=Alice, a form field name=Alice or {"name": "Alice"}`)
	case len(name) > MaxNameBytes:
		return respond.BadRequest("name is %d bytes long; the limit is %d", len(name), MaxNameBytes)
	case !utf8.ValidString(name):
		return respond.BadRequest("name is not valid UTF-8")
	}
	visible := false
	for i, c := range name {
		if kind := forbidden(c); kind != "" {
			return respond.BadRequest("name holds %s (%U) at byte %d; use printable characters only", kind, c, i)
		}
		visible = visible || !invisible(c)
	}
	if !visible {
		c, _ := utf8.DecodeRuneInString(name)
		return respond.BadRequest("name is blank: it holds only white space or invisible characters (%U at byte 0); give a name that shows", c)
	}
	return nil
}

// forbidden names the kind of c if a name may not hold it, else "":
//   - control characters (Unicode category Cc), newlines among them;
//   - the line and paragraph separators U+2028 and U+2029 (categories Zl
//     and Zp), line breaks to every Unicode-aware reader;
//   - bidirectional controls (the Unicode property Bidi_Control: the
//     embeddings, overrides and isolates U+202A–U+202E and U+2066–U+2069,
//     and the marks U+061C, U+200E and U+200F), which reorder what a reader
//     sees of the rest of the line.
func forbidden(c rune) string {
	if c < utf8.RuneSelf {
		if c < ' ' || c == 0x7f {
			return "a control character"
		}
		return ""
	}
	switch {
	case unicode.IsControl(c):
		return "a control character"
	case unicode.In(c, unicode.Zl, unicode.Zp):
		return "a line or paragraph separator"
	case unicode.Is(unicode.Bidi_Control, c):
		return "a bidirectional control"
	}
	return ""
}

// invisible reports whether c shows nothing by itself: white space, a
// format character such as U+200B ZERO WIDTH SPACE or U+200D ZERO WIDTH
// JOINER (category Cf), a variation selector, or another default-ignorable
// code point such as U+3164 HANGUL FILLER. A name may hold these, as
// "👩‍💻" holds U+200D, but not only these.
func invisible(c rune) bool {
	if c < utf8.RuneSelf {
		return c == ' '
	}
	return unicode.IsSpace(c) || unicode.In(c, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}
