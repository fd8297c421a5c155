package imprint_test

import (
	"strings"
	"testing"

	"github.com/imprint-iot/imprint"
)

func TestSafeText(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"", true}, {"sensor-1", true}, {"Zürich Капсула 東京", true}, {"a b", true},
		{"a\x00b", false}, {"a\nb", false}, {"a\u0085b", false}, {"\xff", false}, {"a\xc3", false},
		{"evil\u202Egnp.exe", false}, {"\u202Aa", false}, {"\u2066a\u2069", false},
		{"a\u200Eb", false}, {"a\u200Fb", false}, {"a\u061Cb", false}, {"a\u2067b", false},
	} {
		if got := imprint.SafeText(tt.in); got != tt.want {
			t.Errorf("SafeText(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCursor(t *testing.T) {
	c := imprint.EncodeCursor("things", "sensor-9")
	parts, err := imprint.DecodeCursor("things", c, 1)
	if err != nil || len(parts) != 1 || parts[0] != "sensor-9" {
		t.Fatalf("DecodeCursor(EncodeCursor) = %q, %v, want [sensor-9]", parts, err)
	}
	two := imprint.EncodeCursor("certificates", "1700000000", "ab12")
	if parts, err := imprint.DecodeCursor("certificates", two, 2); err != nil || parts[0] != "1700000000" || parts[1] != "ab12" {
		t.Fatalf("two parts = %q, %v", parts, err)
	}
	long := imprint.EncodeCursor("things", string(make([]byte, imprint.MaxCursorLength)))
	for _, bad := range []struct{ kind, cursor string }{
		{"things", ""}, {"things", "junk"}, {"things", "sensor-9"}, {"things", "%ff"}, {"things", "\x00"},
		{"policies", c}, {"things", two}, {"things", c + "="}, {"things", long},
		{"things", imprint.EncodeCursor("things", "a", "b")},
	} {
		_, err := imprint.DecodeCursor(bad.kind, bad.cursor, 1)
		if imprint.ErrorKind(err) != imprint.Invalid || !strings.Contains(imprint.ErrorMessage(err), "cursor") {
			t.Errorf("DecodeCursor(%q, %q) error = %v, want Invalid naming the cursor", bad.kind, bad.cursor, err)
		}
	}
}
