package api

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/imprint-iot/imprint"
)

// statusOf is the one table from error kinds to HTTP statuses.
var statusOf = map[imprint.Kind]int{
	imprint.Internal:     http.StatusInternalServerError,
	imprint.Invalid:      http.StatusBadRequest,
	imprint.Unauthorized: http.StatusUnauthorized,
	imprint.Forbidden:    http.StatusForbidden,
	imprint.NotFound:     http.StatusNotFound,
	imprint.Conflict:     http.StatusConflict,
	imprint.Unavailable:  http.StatusServiceUnavailable,
	imprint.TooLarge:     http.StatusRequestEntityTooLarge,
	imprint.Aborted:      http.StatusServiceUnavailable, // with Retry-After: retrying may succeed
}

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

// detailOf returns what a client may see of err: its kind's code and its
// safe message, or "internal error" and the request ID for anything else.
func detailOf(r *http.Request, err error) (int, errorDetail) {
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
	return statusOf[kind], d
}

// writeError answers err; every handler error goes through it. Internal
// errors are logged with their whole chain.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, d := detailOf(r, err)
	s.metrics.errors.WithLabelValues(d.Code).Inc()
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "err", err, "status", status,
			"request_id", d.RequestID, "path", r.URL.Path)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	encode(w, status, errorBody{Error: d})
}
