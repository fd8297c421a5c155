// Package imprint holds the domain types shared by Imprint's packages and the
// error kinds every layer speaks. It depends on the standard library only.
package imprint

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller can do about it. Its HTTP
// status (HTTPStatus) is the one table both HTTP front doors, the REST API
// and the device API, answer with. New kinds are appended at the end.
type Kind uint8

// The error kinds. The zero Kind is Internal.
const (
	Internal     Kind = iota // an unexpected fault; its details are logged, not shown
	Invalid                  // the request is malformed or breaks a rule
	Unauthorized             // no credentials, or credentials that do not verify
	Forbidden                // credentials verify but do not allow the operation
	NotFound                 // the named resource does not exist
	Conflict                 // the resource's current state does not allow the change
	Unavailable              // a dependency (the database, a key) is down; retry later
	TooLarge                 // the input is larger than the limit for it
	Aborted                  // a concurrent change got in the way (serialization failure, deadlock); the whole operation may be retried
)

var kindNames = [...]string{
	Internal:     "internal",
	Invalid:      "invalid",
	Unauthorized: "unauthorized",
	Forbidden:    "forbidden",
	NotFound:     "not_found",
	Conflict:     "conflict",
	Unavailable:  "unavailable",
	TooLarge:     "too_large",
	Aborted:      "aborted",
}

// httpStatuses are the kinds' HTTP statuses.
var httpStatuses = [...]int{
	Internal:     500, // Internal Server Error
	Invalid:      400, // Bad Request
	Unauthorized: 401, // Unauthorized
	Forbidden:    403, // Forbidden
	NotFound:     404, // Not Found
	Conflict:     409, // Conflict
	Unavailable:  503, // Service Unavailable
	TooLarge:     413, // Content Too Large
	Aborted:      503, // Service Unavailable, with Retry-After: retrying may succeed
}

// HTTPStatus returns the HTTP status an error of kind k is answered with.
func (k Kind) HTTPStatus() int {
	if int(k) < len(httpStatuses) {
		return httpStatuses[k]
	}
	return 500
}

// String returns the kind's snake_case name, as clients see it.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "internal"
}

// Error is Imprint's error: a kind, a message that is safe to show a client,
// and the underlying error, which is not. The chain of wrapping errors around
// it says where it happened.
type Error struct {
	Kind    Kind
	Message string // safe to show to clients
	Err     error  // the cause; logged, never shown
}

// Error implements error.
func (e *Error) Error() string {
	switch {
	case e.Message != "" && e.Err != nil && e.Err.Error() != e.Message:
		return e.Message + ": " + e.Err.Error()
	case e.Message != "":
		return e.Message
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Kind.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind whose message, formatted with
// fmt.Sprintf, is safe to show to a client.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// ErrorKind returns the kind of the first *Error in err's chain, or Internal
// if there is none (nil gives Internal too).
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// ErrorMessage returns the client-safe message of the first *Error in err's
// chain that has one, or "internal error" if there is none.
func ErrorMessage(err error) string {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			break
		}
		if e.Message != "" {
			if e.Kind == Internal {
				break
			}
			return e.Message
		}
		err = e.Err
	}
	return "internal error"
}
