package imprint

import (
	"errors"
	"strconv"
	"testing"
)

func TestValidationErrorError(t *testing.T) {
	tests := []struct {
		name string
		err  ValidationError
		want string
	}{
		{"one", ValidationError{Problems: []Problem{{Path: "Version", Message: "must be a string"}}}, "Version: must be a string"},
		{"no path", ValidationError{Problems: []Problem{{Message: "invalid JSON"}}}, "invalid JSON"},
		{"what", ValidationError{What: "invalid template", Problems: []Problem{{Path: "a.b", Message: "is required"}, {Message: "too long"}}},
			"invalid template: a.b: is required; too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProblemsErr(t *testing.T) {
	tests := []struct {
		name     string
		add      int // problems added, at paths "p0", "p1", ...
		kind     Kind
		what     string
		problems int    // problems in the error, the note included
		note     bool   // whether the last problem is the truncation note
		message  string // the error's message; "" skips the check
	}{
		{name: "none", add: 0},
		{name: "one", add: 1, kind: Invalid, what: "invalid template", problems: 1, message: "invalid template: p0: bad"},
		{name: "two", add: 2, kind: TooLarge, what: "", problems: 2, message: "p0: bad; p1: bad"},
		{name: "at the limit", add: MaxProblems, kind: Invalid, what: "x", problems: MaxProblems},
		{name: "over the limit", add: MaxProblems + 7, kind: Invalid, what: "x", problems: MaxProblems + 1, note: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps Problems
			for i := range tt.add {
				ps.Add("p"+strconv.Itoa(i), "bad")
			}
			if want := min(tt.add, MaxProblems); ps.Len() != want {
				t.Errorf("Len() = %d, want %d", ps.Len(), want)
			}
			err := ps.Err(tt.kind, tt.what)
			if tt.add == 0 {
				if err != nil || ps.List() != nil {
					t.Errorf("Err() = %v, List() = %v, want nil, nil", err, ps.List())
				}
				return
			}
			if k := ErrorKind(err); k != tt.kind {
				t.Errorf("ErrorKind() = %v, want %v", k, tt.kind)
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Err() = %v (%T), want a *ValidationError", err, err)
			}
			if verr.What != tt.what || len(verr.Problems) != tt.problems {
				t.Errorf("ValidationError = %q with %d problems, want %q with %d", verr.What, len(verr.Problems), tt.what, tt.problems)
			}
			last := verr.Problems[len(verr.Problems)-1]
			if isNote := last == (Problem{Message: "more problems were not reported"}); isNote != tt.note {
				t.Errorf("last problem = %v, want the note: %v", last, tt.note)
			}
			if msg := ErrorMessage(err); msg != verr.Error() || err.Error() != msg {
				t.Errorf("ErrorMessage() = %q, Error() = %q, want both %q", msg, err.Error(), verr.Error())
			}
			if tt.message != "" && ErrorMessage(err) != tt.message {
				t.Errorf("ErrorMessage() = %q, want %q", ErrorMessage(err), tt.message)
			}
		})
	}
}
