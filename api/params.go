package api

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/imprint-iot/imprint"
)

// MaxParamLength is the most bytes of a path or query parameter's value.
const MaxParamLength = 1024

// Every path and query parameter a handler reads goes through PathParam or
// queryParams, so no text with a NUL byte or invalid UTF-8 (which PostgreSQL
// refuses) ever reaches the store: the client gets 400 naming the parameter.

// checkParam returns Invalid naming the parameter (where is "path" or
// "query") unless v is valid UTF-8 of at most MaxParamLength bytes without
// a NUL byte.
func checkParam(where, name, v string) error {
	switch {
	case len(v) > MaxParamLength:
		return imprint.Errorf(imprint.Invalid, "%s parameter %q is longer than %d bytes", where, name, MaxParamLength)
	case strings.IndexByte(v, 0) >= 0:
		return imprint.Errorf(imprint.Invalid, "%s parameter %q holds a NUL byte", where, name)
	case !utf8.ValidString(v):
		return imprint.Errorf(imprint.Invalid, "%s parameter %q is not valid UTF-8", where, name)
	}
	return nil
}

// PathParam returns r's route parameter name ({name} in the route),
// percent-decoded, or Invalid naming it when it holds a NUL byte, is not
// valid UTF-8 or is longer than MaxParamLength.
func PathParam(r *http.Request, name string) (string, error) {
	v := chi.URLParam(r, name)
	if r.URL.RawPath != "" {
		// The router matched the escaped path: its parameters are escaped.
		u, err := url.PathUnescape(v)
		if err != nil {
			return "", imprint.Errorf(imprint.Invalid, "path parameter %q is not properly percent-encoded", name)
		}
		v = u
	}
	if err := checkParam("path", name, v); err != nil {
		return "", err
	}
	return v, nil
}

// queryParams returns r's query parameters once each is one of allowed and
// every value passes the checks of PathParam. Others are Invalid: limit and
// cursor, on a route that does not list them, with a message saying that
// the route does not page.
func queryParams(r *http.Request, allowed ...string) (url.Values, error) {
	q := r.URL.Query()
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(allowed, k) {
			if k == "limit" || k == "cursor" {
				return nil, imprint.Errorf(imprint.Invalid, "%s %s does not page: query parameter %q is not accepted",
					r.Method, chi.RouteContext(r.Context()).RoutePattern(), k)
			}
			return nil, imprint.Errorf(imprint.Invalid, "unknown query parameter %q", k)
		}
		for _, v := range q[k] {
			if err := checkParam("query", k, v); err != nil {
				return nil, err
			}
		}
	}
	return q, nil
}

// nameCursor returns the name held by the cursor of a listing keyed by name
// ("" when q has none). The cursor must be one nameCursorOf made for kind,
// holding a name valid accepts; anything else is Invalid naming cursor.
func nameCursor(q url.Values, kind string, valid func(string) error) (string, error) {
	c := q.Get("cursor")
	if c == "" {
		return "", nil
	}
	parts, err := imprint.DecodeCursor(kind, c, 1)
	if err != nil {
		return "", err
	}
	if valid(parts[0]) != nil {
		return "", imprint.Errorf(imprint.Invalid, "cursor is malformed: pass the nextCursor of the previous page of this listing")
	}
	return parts[0], nil
}

// nameCursorOf returns the cursor of the page after the name last ("" when
// there is none) in the listing kind.
func nameCursorOf(kind, last string) string {
	if last == "" {
		return ""
	}
	return imprint.EncodeCursor(kind, last)
}

// noQuery returns Invalid when r has query parameters, for routes that
// take none: limit and cursor are refused as on every route that does not
// page.
func noQuery(r *http.Request) error {
	_, err := queryParams(r)
	return err
}

// nameParam returns r's route parameter param as a name that valid accepts.
// A malformed name is Invalid naming the parameter, as a malformed ID is
// (idParam): it cannot name anything, so the answer is 400, not 404.
func nameParam(r *http.Request, param string, valid func(string) error) (string, error) {
	name, err := PathParam(r, param)
	if err != nil {
		return "", err
	}
	if err := valid(name); err != nil {
		return "", imprint.Errorf(imprint.Invalid, "path parameter %q: %s", param, imprint.ErrorMessage(err))
	}
	return name, nil
}

// idParam returns r's route parameter name as a certificate or CA ID (see
// NormalizeID, whose Invalid names it what).
func idParam(r *http.Request, name, what string) (string, error) {
	v, err := PathParam(r, name)
	if err != nil {
		return "", err
	}
	return NormalizeID(what, v)
}
