package imprint

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

// MaxCursorLength is the longest page cursor any listing accepts.
const MaxCursorLength = 512

// EncodeCursor returns the opaque cursor of a keyset position in the listing
// named kind ("things", "certificates"...): the position's parts, in order.
// Every listing makes its cursors here and reads them with DecodeCursor, so
// one rule decides what a cursor is.
func EncodeCursor(kind string, parts ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + "\x00" + strings.Join(parts, "\x00")))
}

// DecodeCursor returns the n parts of a cursor that EncodeCursor made for
// the listing kind. Anything else (junk, a cursor of another listing, one
// too long) is Invalid, with a message that names the cursor parameter.
func DecodeCursor(kind, cursor string, n int) ([]string, error) {
	bad := Errorf(Invalid, "cursor is malformed: pass the nextCursor of the previous page of this listing")
	if cursor == "" || len(cursor) > MaxCursorLength {
		return nil, bad
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(cursor)
	if err != nil || !utf8.Valid(b) {
		return nil, bad
	}
	parts := strings.Split(string(b), "\x00")
	if len(parts) != n+1 || parts[0] != kind {
		return nil, bad
	}
	return parts[1:], nil
}
