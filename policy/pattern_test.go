package policy

import (
	"strings"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	req := &Request{ClientID: "dev-1", Thing: attachedThing("th*ng")}
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"topic/a", "topic/a", true},
		{"topic/a", "topic/ab", false},
		{"topic/a", "topic/", false},
		{"*", "", true},
		{"*", "anything/at/all", true},
		{"**", "x", true},
		{"topic/*", "topic/", true},
		{"topic/*", "topic/a/b/c", true},
		{"topic/*", "topicfilter/a", false},
		{"topic/*/x", "topic/a/b/x", true},
		{"topic/*/x", "topic/x", false},
		{"topic/*/x", "topic//x", true},
		{"topic/*x*y", "topic/axbxy", true},
		{"topic/*x*y", "topic/ayx", false},
		{"topic/a*b*c*d", "topic/abcd", true},
		{"topic/a*b*c*d", "topic/aXbXcXdX", false},
		{"topic/a*b*c*d", "topic/aXbXcXdXd", true},
		{"*/end", "topic/x/end", true},
		{"*end", "end", true},
		{"*end", "nd", false},
		{"topic/?", "topic/a", true},
		{"topic/?", "topic/", false},
		{"topic/?", "topic/ab", false},
		{"topic/?", "topic/é", true}, // one character of two bytes
		{"topic/??", "topic/é", false},
		{"topic/?*?", "topic/ab", true},
		{"topic/?*?", "topic/a", false},
		{"topic/*?x", "topic/x", false},
		{"topic/*?x", "topic/ax", true},
		{"topic/*é?", "topic/aéb", true},
		{"topic/*?", "topic/é", true},
		{"topic/a?c*", "topic/abcdef", true},
		{"topic/a?c*", "topic/ac", false},
		// MQTT wildcards are literal characters.
		{"topicfilter/a/+/b", "topicfilter/a/+/b", true},
		{"topicfilter/a/+/b", "topicfilter/a/x/b", false},
		{"topicfilter/a/#", "topicfilter/a/#", true},
		{"topicfilter/a/#", "topicfilter/a/b", false},
		{"topicfilter/a/*", "topicfilter/a/#", true},
		{"topicfilter/a/*", "topicfilter/a/+/c", true},
		{"topicfilter/a/restricted/*", "topicfilter/a/#", false},
		// Escapes.
		{"topic/${*}", "topic/*", true},
		{"topic/${*}", "topic/x", false},
		{"topic/${?}", "topic/?", true},
		{"topic/${?}", "topic/x", false},
		{"topic/${$}{iot:ClientId}", "topic/${iot:ClientId}", true},
		{"topic/${$}{iot:ClientId}", "topic/dev-1", false},
		{"topic/$aws/things", "topic/$aws/things", true},
		{"topic/a$", "topic/a$", true},
		// Variables are literal, whatever they hold.
		{"topic/${iot:ClientId}", "topic/dev-1", true},
		{"topic/${iot:ClientId}", "topic/dev-2", false},
		{"topic/${iot:ClientId}/*", "topic/dev-1/x", true},
		{"topic/*/${iot:ClientId}", "topic/x/y/dev-1", true},
		{"topic/*/${iot:ClientId}/*", "topic/x/dev-1/y", true},
		{"topic/*/${iot:ClientId}/*", "topic/x/dev-2/y", false},
		{"topic/${iot:Connection.Thing.ThingName}", "topic/th*ng", true},
		{"topic/${iot:Connection.Thing.ThingName}", "topic/thing", false},
		{"topic/${iot:Connection.Thing.ThingName}", "topic/thXXng", false},
		{"topic/?${iot:ClientId}", "topic/xdev-1", true},
		{"topic/*?${iot:ClientId}", "topic/xdev-1", true},
		{"topic/${iot:CertificateId}", "topic/", false}, // unresolved: matches nothing
	}
	for _, tc := range tests {
		t.Run(tc.pattern+"~"+tc.s, func(t *testing.T) {
			p, msg := parsePattern(tc.pattern, true, true)
			if msg != "" {
				t.Fatalf("parsePattern(%q) = %q", tc.pattern, msg)
			}
			if got := p.match(tc.s, req); got != tc.want {
				t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
			}
		})
	}
}

// TestPatternNoBacktracking matches patterns that make a backtracking
// matcher take exponential time; this one answers at once.
func TestPatternNoBacktracking(t *testing.T) {
	pat := "topic/" + strings.Repeat("a*", 100) + "b"
	s := "topic/" + strings.Repeat("a", 4000)
	p, _ := parsePattern(pat, true, false)
	if p.matchString(s) {
		t.Errorf("match(%q...) = true, want false", pat[:20])
	}
	if !p.matchString(s + "b") {
		t.Errorf("match(%q...b) = false, want true", pat[:20])
	}
	q, _ := parsePattern("topic/"+strings.Repeat("?*", 100)+"b", true, false)
	if q.matchString(s) {
		t.Errorf("match(?*...) = true, want false")
	}
}

func TestPatternKinds(t *testing.T) {
	tests := []struct {
		pattern string
		want    patternKind
	}{
		{"topic/a", patLiteral},
		{"topic/${*}", patLiteral},
		{"*", patAny},
		{"***", patAny},
		{"topic/*", patPrefix},
		{"topic/*/x", patGlob},
		{"topic/?", patGlob},
		{"topic/${iot:ClientId}", patGlob},
	}
	for _, tc := range tests {
		p, _ := parsePattern(tc.pattern, true, true)
		if p.kind != tc.want {
			t.Errorf("parsePattern(%q).kind = %d, want %d", tc.pattern, p.kind, tc.want)
		}
	}
}

func TestPatternErrors(t *testing.T) {
	tests := []struct{ pattern, want string }{
		{"topic/${iot:ClientId", "unterminated policy variable"},
		{"topic/${iot:Nope}", "unknown policy variable ${iot:Nope}"},
		{"topic/${}", "unknown policy variable ${}"},
		{"topic/${iot:Certificate.Subject.Organization.List}", "has many values"},
		{"topic/${iot:ConnectAttributes}", "has many values"},
	}
	for _, tc := range tests {
		_, msg := parsePattern(tc.pattern, true, true)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("parsePattern(%q) = %q, want it to contain %q", tc.pattern, msg, tc.want)
		}
	}
}
