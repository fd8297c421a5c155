package imprint

import (
	"unicode"
	"unicode/utf8"
)

// IsBidiControl reports whether r is one of Unicode's bidirectional
// formatting characters (UAX #9): the embeddings and overrides U+202A to
// U+202E, the isolates U+2066 to U+2069, and the marks U+200E, U+200F and
// U+061C. In a name they can make it read as another name.
func IsBidiControl(r rune) bool {
	switch {
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x200E, r == 0x200F, r == 0x061C:
		return true
	}
	return false
}

// SafeText reports whether s is valid UTF-8 with no control character (C0,
// C1, NUL included) and no bidirectional formatting character: text fit for
// a name, a description or a certificate subject. The empty string is safe.
func SafeText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || IsBidiControl(r) {
			return false
		}
	}
	return true
}
