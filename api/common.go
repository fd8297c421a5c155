package api

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imprint-iot/imprint"
)

// Common is what every HTTP surface of Imprint shares (the REST API, the
// public PKI endpoints, the composition's own routes): the logger, the
// request metrics, the middleware, and the one JSON error writer with its
// table from error kinds to statuses. Make one per process.
type Common struct {
	log     *slog.Logger
	metrics *metrics
}

// NewCommon returns the shared parts, registering the HTTP metrics in reg.
func NewCommon(log *slog.Logger, reg prometheus.Registerer) *Common {
	return &Common{log: log, metrics: newMetrics(reg)}
}

// Middleware returns the middleware every request passes, in order: request
// ID, real IP (believing the forwarding headers of trustedProxies only),
// request log, panic recovery, metrics, security headers. Timeouts and
// authentication are the routes' own.
func (c *Common) Middleware(trustedProxies []netip.Prefix) []func(http.Handler) http.Handler {
	return []func(http.Handler) http.Handler{
		middleware.RequestID, realIP(trustedProxies), c.logRequests, c.recoverPanics, c.metrics.observe, securityHeaders,
	}
}

// Router returns the root router of the HTTP surfaces: Middleware's chain,
// and JSON answers through WriteError to a path no route serves (404) and a
// method its path does not serve (405). The composition (cmd) mounts the
// API, the PKI endpoints and the console on it.
func (c *Common) Router(trustedProxies []netip.Prefix) chi.Router {
	r := chi.NewRouter()
	r.Use(c.Middleware(trustedProxies)...)
	r.NotFound(c.NotFound)
	r.MethodNotAllowed(c.MethodNotAllowed)
	return r
}

// Timeout is middleware that bounds a request to RequestTimeout: every
// route but the event stream runs behind it.
func Timeout(next http.Handler) http.Handler {
	return middleware.Timeout(RequestTimeout)(next)
}

// HandlerFunc is a handler that returns its error instead of answering it;
// Handle answers it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts h to http.HandlerFunc: a non-nil error is answered through
// WriteError, the one way a handler answers an error.
func (c *Common) Handle(h HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			c.WriteError(w, r, err)
		}
	}
}

// NotFound answers a path no route serves: 404 not_found.
func (c *Common) NotFound(w http.ResponseWriter, r *http.Request) {
	c.WriteError(w, r, imprint.Errorf(imprint.NotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
}

// MethodNotAllowed answers a method its path does not serve: 405
// method_not_allowed.
func (c *Common) MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	c.WriteError(w, r, &methodNotAllowedError{method: r.Method, path: r.URL.Path})
}

// logRequests logs each request once it is answered; bodies and tokens are
// never logged.
func (c *Common) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		c.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", ww.Status()), slog.Int("bytes", ww.BytesWritten()),
			slog.Duration("duration", time.Since(start)), slog.String("remote", r.RemoteAddr),
			slog.String("request_id", middleware.GetReqID(r.Context())))
	})
}

// recoverPanics turns a panic into a logged internal error: no panic reaches
// a client.
func (c *Common) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				c.log.ErrorContext(r.Context(), "panic", "value", v, "path", r.URL.Path,
					"request_id", middleware.GetReqID(r.Context()))
				c.WriteError(w, r, errPanic)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

var errPanic = &imprint.Error{Kind: imprint.Internal, Message: "internal error"}
