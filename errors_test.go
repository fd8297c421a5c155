package imprint

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorKindAndMessage(t *testing.T) {
	cause := errors.New("pq: connection refused")
	tests := []struct {
		name     string
		err      error
		kind     Kind
		message  string
		contains string
	}{
		{"nil", nil, Internal, "internal error", ""},
		{"plain", errors.New("boom"), Internal, "internal error", "boom"},
		{"kinded", Errorf(NotFound, "CA %s not found", "x"), NotFound, "CA x not found", "CA x not found"},
		{"wrapped", fmt.Errorf("issue: %w", Errorf(Invalid, "csr is empty")), Invalid, "csr is empty", "issue: csr is empty"},
		{"with cause", &Error{Kind: Unavailable, Message: "database unavailable", Err: cause}, Unavailable,
			"database unavailable", "database unavailable: pq: connection refused"},
		{"internal message hidden", &Error{Kind: Internal, Message: "secret detail"}, Internal, "internal error", "secret detail"},
		{"same text once", &Error{Kind: Invalid, Message: "a: b", Err: errors.New("a: b")}, Invalid, "a: b", "a: b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorKind(tt.err); got != tt.kind {
				t.Errorf("ErrorKind() = %v, want %v", got, tt.kind)
			}
			if got := ErrorMessage(tt.err); got != tt.message {
				t.Errorf("ErrorMessage() = %q, want %q", got, tt.message)
			}
			if tt.err != nil && tt.err.Error() != tt.contains && tt.contains != "" {
				t.Errorf("Error() = %q, want %q", tt.err.Error(), tt.contains)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	tok, bearer, err := NewToken("line-1", RoleFactory)
	if err != nil {
		t.Fatal(err)
	}
	id, hash, ok := ParseToken(bearer)
	if !ok || id != tok.ID || !tok.Matches(hash) {
		t.Fatalf("ParseToken(NewToken()) = %q, %v; does not match", id, ok)
	}
	_, other, _ := NewToken("line-2", RoleFactory)
	if _, h2, _ := ParseToken(other); tok.Matches(h2) {
		t.Error("another token's secret matches")
	}
	for _, bad := range []string{"", "imp_", "bearer", bearer[:len(bearer)-1], "imp_zzzzzzzzzzzzzzzz_" + bearer[21:]} {
		if _, _, ok := ParseToken(bad); ok {
			t.Errorf("ParseToken(%q) ok, want not", bad)
		}
	}
	for _, tc := range []struct {
		name string
		role Role
	}{{"", RoleAdmin}, {"has space", RoleAdmin}, {"ok", "root"}} {
		if _, _, err := NewToken(tc.name, tc.role); ErrorKind(err) != Invalid {
			t.Errorf("NewToken(%q, %q) kind = %v, want Invalid", tc.name, tc.role, ErrorKind(err))
		}
	}
}

func TestProfileValidate(t *testing.T) {
	if err := DefaultProfile().Validate(); err != nil {
		t.Fatalf("DefaultProfile().Validate() = %v", err)
	}
	bad := []IssuanceProfile{
		{ValidityDays: 0, KeyTypes: KeyTypes},
		{ValidityDays: MaxValidityDays + 1, KeyTypes: KeyTypes},
		{ValidityDays: 1},
		{ValidityDays: 1, KeyTypes: []KeyType{"DSA-1024"}},
		{ValidityDays: 1, KeyTypes: KeyTypes, SANTypes: []string{"x400"}},
		{ValidityDays: 1, KeyTypes: KeyTypes, CommonNamePattern: "("},
	}
	for _, p := range bad {
		if err := p.Validate(); ErrorKind(err) != Invalid {
			t.Errorf("%+v.Validate() kind = %v, want Invalid", p, ErrorKind(err))
		}
	}
	re, _ := IssuanceProfile{CommonNamePattern: "dev-[0-9]+"}.CommonNameRegexp()
	if !re.MatchString("dev-12") || re.MatchString("xdev-12") || re.MatchString("dev-12x") {
		t.Error("CommonNameRegexp() is not anchored at both ends")
	}
}
