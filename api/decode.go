package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/imprint-iot/imprint"
)

// MaxBodySize is the largest request body any endpoint reads.
const MaxBodySize = 1 << 20

// validator is implemented by request bodies that check themselves. Validate
// has a value receiver: it checks and never changes the request; handlers
// put fields in normal form (caIDOf) after it.
type validator interface{ Validate() error }

// readBody reads the whole request body, refusing more than MaxBodySize.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, imprint.Errorf(imprint.TooLarge, "request body is larger than %d bytes", MaxBodySize)
		}
		return nil, imprint.Errorf(imprint.Invalid, "cannot read request body: %v", err)
	}
	return body, nil
}

// readJSON reads r's body as one JSON object of type T and validates it:
// the one way a handler reads a request body (see decode).
func readJSON[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	body, err := readBody(w, r)
	if err != nil {
		var zero T
		return zero, err
	}
	return decode[T](body)
}

// decode parses body as one JSON object of type T, refusing unknown fields and
// trailing data, then validates it. Errors are Invalid and name the field.
func decode[T any](body []byte) (T, error) {
	var v T
	if len(bytes.TrimSpace(body)) == 0 {
		return v, imprint.Errorf(imprint.Invalid, "request body is empty; a JSON object is required")
	}
	if err := checkJSONText(body); err != nil {
		return v, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, imprint.Errorf(imprint.Invalid, "%s", jsonProblem(err))
	}
	if dec.More() {
		return v, imprint.Errorf(imprint.Invalid, "request body holds more than one JSON value")
	}
	if val, ok := any(v).(validator); ok {
		if err := val.Validate(); err != nil {
			return v, err
		}
	}
	return v, nil
}

// checkJSONText returns Invalid unless the JSON text b is valid UTF-8 whose
// strings escape no NUL (\u0000) and no lone UTF-16 surrogate. The
// encoding/json decoder would silently turn invalid UTF-8 and lone
// surrogates into U+FFFD, and PostgreSQL text cannot hold NUL.
func checkJSONText(b []byte) error {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return imprint.Errorf(imprint.Invalid, "request body is not valid UTF-8 (at byte %d)", i)
		}
		if b[i] != '\\' || i+1 == len(b) {
			i += size
			continue
		}
		// Backslashes appear only in strings: an escape.
		if b[i+1] != 'u' {
			i += 2
			continue
		}
		u, ok := hex4(b, i+2)
		switch {
		case !ok:
			i += 2 // malformed: the decoder reports it
			continue
		case u == 0:
			return imprint.Errorf(imprint.Invalid, "request body holds a NUL character (\\u0000) at byte %d", i)
		case u >= 0xDC00 && u <= 0xDFFF:
			return imprint.Errorf(imprint.Invalid, "request body holds a lone UTF-16 surrogate (\\u%04x) at byte %d", u, i)
		case u >= 0xD800 && u <= 0xDBFF:
			if lo, ok := hex4(b, i+8); !ok || b[i+6] != '\\' || b[i+7] != 'u' || lo < 0xDC00 || lo > 0xDFFF {
				return imprint.Errorf(imprint.Invalid, "request body holds a lone UTF-16 surrogate (\\u%04x) at byte %d", u, i)
			}
			i += 12
			continue
		}
		i += 6
	}
	return nil
}

// hex4 reads the four hex digits at b[i:], as in a \uXXXX escape.
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 16)
	return rune(n), err == nil
}

// jsonProblem turns a decoding error into a message that names the field.
func jsonProblem(err error) string {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return fmt.Sprintf("request body must be a JSON object, not %s", typ.Value)
		}
		return fmt.Sprintf("field %q must be %s, not %s", field, jsonType(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of input"
	}
	return "malformed JSON: " + err.Error()
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	}
	return goKind
}

// encode writes v as JSON with the given status.
func encode(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
	w.Write([]byte{'\n'})
}

// limitParam reads a listing's page size: 0 (the default) when absent,
// Invalid unless 1 to imprint.MaxPageSize.
func limitParam(q url.Values) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > imprint.MaxPageSize {
		return 0, imprint.Errorf(imprint.Invalid, "limit must be a number from 1 to %d", imprint.MaxPageSize)
	}
	return n, nil
}

// jsonUnmarshalStrict decodes b into v, refusing unknown fields.
func jsonUnmarshalStrict(b []byte, v any) error {
	if err := checkJSONText(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return imprint.Errorf(imprint.Invalid, "%s", jsonProblem(err))
	}
	return nil
}
