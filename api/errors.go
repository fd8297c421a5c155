package api

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/imprint-iot/imprint"
)

// errorBody is the JSON of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId,omitempty"`
	// Problems lists every fault of a document (a template, a policy), each
	// with its JSON path.
	Problems []imprint.Problem `json:"problems,omitempty"`
}

// methodNotAllowedError is the error of a method its path does not serve.
type methodNotAllowedError struct{ method, path string }

func (e *methodNotAllowedError) Error() string { return e.method + " is not allowed on " + e.path }

// detailOf returns what a client may see of err: its kind's code and its
// safe message, or "internal error" and the request ID for anything else.
// A method its path does not serve is 405 method_not_allowed.
func detailOf(r *http.Request, err error) (int, errorDetail) {
	var mna *methodNotAllowedError
	if errors.As(err, &mna) {
		return http.StatusMethodNotAllowed, errorDetail{Code: "method_not_allowed", Message: mna.Error()}
	}
	kind := imprint.ErrorKind(err)
	d := errorDetail{Code: kind.String(), Message: imprint.ErrorMessage(err)}
	if kind == imprint.Internal || kind == imprint.Unavailable {
		d.RequestID = middleware.GetReqID(r.Context())
	}
	if kind == imprint.Unavailable && d.Message == "internal error" {
		d.Message = "service unavailable"
	}
	var ve *imprint.ValidationError
	if kind == imprint.Invalid && errors.As(err, &ve) {
		d.Problems = ve.Problems
	}
	return kind.HTTPStatus(), d
}

// WriteError answers err as JSON; every handler error goes through it.
// Internal errors are logged with their whole chain.
func (c *Common) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status, d := detailOf(r, err)
	c.metrics.errors.WithLabelValues(d.Code).Inc()
	if status >= 500 {
		c.log.ErrorContext(r.Context(), "request failed", "err", err, "status", status,
			"request_id", d.RequestID, "path", r.URL.Path)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	encode(w, status, errorBody{Error: d})
}
