// Package api is Imprint's REST API: routes, handlers, token authentication,
// and the one table from error kinds to HTTP statuses.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/outbound"
	"github.com/imprint-iot/imprint/policy"
	"github.com/imprint-iot/imprint/provisioning"
)

// Deps are what the API is built from. All are required but the durations.
type Deps struct {
	Log      *slog.Logger
	Engine   *provisioning.Engine
	CA       Authority
	Store    Store
	Registry *prometheus.Registry // the API registers its metrics here and serves it at /metrics
	CRLs     CRLSource
	OCSP     OCSPResponder
	Jobs     JobRunner
	Events   EventSource
	Secrets  SecretSealer // seals webhook secrets
	// Tokens verifies bearer tokens; feed it imprint.ChannelTokens so that
	// revocations on other replicas apply here at once. If nil, the API
	// makes its own, which hears only of revocations made through it.
	Tokens *TokenCache
	// OCSPMaxAge is the Cache-Control max-age of OCSP answers to GET.
	OCSPMaxAge time.Duration
	// WebhookAllowHTTP lets webhooks (and pre-provisioning hooks) use plain http URLs.
	WebhookAllowHTTP bool
	// Outbound checks the hosts of webhook and pre-provisioning hook URLs
	// when they are configured (IMPRINT_OUTBOUND_ALLOW); nil allows public
	// addresses only. Give the dispatcher a client of the same guard.
	Outbound *outbound.Guard
	// TrustedProxies are the proxies whose X-Forwarded-For and X-Real-IP
	// headers are believed; with none, the client's address is the peer's.
	TrustedProxies []netip.Prefix
	// MetricsElsewhere leaves /metrics off the API: the caller serves the
	// Registry on a listener of its own. False serves it at /metrics.
	MetricsElsewhere bool
}

// Store is what the API needs from the database.
type Store interface {
	TokenStore
	TokenAdmin
	CertificateStore
	LifecycleStore
	EventStore
	WebhookStore
	TemplateStore
	RegistryStore
	PolicyStore
	Ping(ctx context.Context) error
}

type server struct {
	log          *slog.Logger
	ca           Authority
	store        Store
	auth         *TokenCache
	metrics      *metrics
	crls         CRLSource
	ocsp         OCSPResponder
	jobs         JobRunner
	events       EventSource
	secrets      SecretSealer
	ocspMaxAge   time.Duration
	webhookHTTP  bool
	outbound     *outbound.Guard
	engine       *provisioning.Engine
	policyLimits policy.Limits
}

// RequestTimeout bounds every request but the event stream.
const RequestTimeout = 60 * time.Second

// NewHandler returns the HTTP handler of the whole API.
func NewHandler(d Deps) http.Handler {
	s := &server{
		log: d.Log, ca: d.CA, store: d.Store, auth: d.Tokens, metrics: newMetrics(d.Registry),
		crls: d.CRLs, ocsp: d.OCSP, jobs: d.Jobs, events: d.Events, secrets: d.Secrets,
		ocspMaxAge: d.OCSPMaxAge, webhookHTTP: d.WebhookAllowHTTP,
		outbound: d.Outbound,
		engine:   d.Engine, policyLimits: d.Engine.PolicyLimits(), // one policy limit for policies and templates
	}
	if s.auth == nil {
		s.auth = NewTokenCache(d.Store, d.Log)
	}
	r := chi.NewRouter()
	r.Use(middleware.RequestID, realIP(d.TrustedProxies), s.logRequests, s.recoverPanics, s.metrics.observe)
	r.Use(securityHeaders)

	all := []imprint.Role{imprint.RoleAdmin, imprint.RoleFactory, imprint.RoleAuditor}
	readers := []imprint.Role{imprint.RoleAdmin, imprint.RoleAuditor}
	issuers := []imprint.Role{imprint.RoleAdmin, imprint.RoleFactory}
	r.Group(func(r chi.Router) {
		r.Use(middleware.Timeout(RequestTimeout))
		r.Get("/healthz", s.handleHealthz)
		r.Get("/readyz", s.handleReadyz)
		if !d.MetricsElsewhere {
			r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{}))
		}
		r.Get("/ca/{file}", s.handleCACertificateFile)
		r.Get("/openapi.yaml", handleOpenAPI)
		r.Get("/crl/{file}", s.handleCRL)
		r.Get("/crl/{id}/{file}", s.handleCRL)
		r.Post("/ocsp/{id}", s.handleOCSPPost)
		r.Get("/ocsp/{id}/*", s.handleOCSPGet)
	})
	r.Route("/v1", func(r chi.Router) {
		r.With(s.requireRole(readers...)).Get("/events/stream", s.handleEventStream) // long-lived: no timeout
		r.Group(func(r chi.Router) {
			r.Use(middleware.Timeout(RequestTimeout))
			s.registryRoutes(r)
			s.policyRoutes(r)
			r.Group(func(r chi.Router) {
				r.Use(s.requireRole(issuers...))
				r.Post("/certificates", s.handleIssue)
				r.Post("/certificates/batch", s.handleIssueBatch)
				r.Post("/keys-and-certificate", s.handleKeysAndCertificate)
				r.Post("/certificates/{id}/renew", s.handleRenew)
				r.Post("/certificates:register", s.handleRegisterCertificate)
				r.Post("/certificates:register-batch", s.handleRegisterBatch)
			})
			r.Group(func(r chi.Router) {
				r.Use(s.requireRole(all...))
				r.Get("/certificates", s.handleListCertificates)
				r.Get("/certificates/{id}", s.handleGetCertificate)
				r.Get("/cas", s.handleListCAs)
				r.Get("/cas/{id}", s.handleGetCA)
				r.Get("/cas/{id}/chain", s.handleCAChain)
			})
			r.Group(func(r chi.Router) {
				r.Use(s.requireRole(readers...))
				r.Get("/events", s.handleListEvents)
				r.Get("/revocation-jobs/{id}", s.handleGetJob)
				r.Get("/webhooks", s.handleListWebhooks)
				r.Get("/webhooks/{id}/deliveries", s.handleListDeliveries)
				r.Get("/provisioning-templates", s.handleListTemplates)
				r.Get("/provisioning-templates/{name}", s.handleGetTemplate)
				r.Get("/provisioning-templates/{name}/versions", s.handleListVersions)
				r.Get("/provisioning-templates/{name}/versions/{version}", s.handleGetVersion)
				r.Post("/provisioning-templates/{name}:preview", s.handlePreview)
			})
			r.Group(func(r chi.Router) {
				r.Use(s.requireRole(imprint.RoleAdmin))
				r.Post("/cas", s.handleCreateCA)
				r.Post("/cas:register", s.handleRegisterCA)
				r.Get("/registration-code", s.handleGetRegistrationCode)
				r.Delete("/registration-code", s.handleDeleteRegistrationCode)
				r.Patch("/cas/{id}", s.handleSetCAStatus)
				r.Patch("/certificates/{id}", s.handleSetStatus)
				r.Post("/certificates/{id}/revoke", s.handleRevoke)
				r.Post("/certificates/revoke", s.handleBulkRevoke)
				r.Post("/webhooks", s.handleCreateWebhook)
				r.Delete("/webhooks/{id}", s.handleDeleteWebhook)
				r.Post("/provisioning-templates", s.handleCreateTemplate)
				r.Patch("/provisioning-templates/{name}", s.handlePatchTemplate)
				r.Delete("/provisioning-templates/{name}", s.handleDeleteTemplate)
				r.Post("/provisioning-templates/{name}/versions", s.handleCreateVersion)
				r.Delete("/provisioning-templates/{name}/versions/{version}", s.handleDeleteVersion)
				r.Get("/tokens", s.handleListTokens)
				r.Post("/tokens", s.handleCreateToken)
				r.Get("/tokens/{id}", s.handleGetToken)
				r.Post("/tokens/{id}/revoke", s.handleRevokeToken)
			})
		})
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, imprint.Errorf(imprint.NotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusMethodNotAllowed, errorBody{Error: errorDetail{
			Code: "method_not_allowed", Message: r.Method + " is not allowed on " + r.URL.Path}})
	})
	return r
}

// logRequests logs each request once it is answered; bodies and tokens are
// never logged.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", ww.Status()), slog.Int("bytes", ww.BytesWritten()),
			slog.Duration("duration", time.Since(start)), slog.String("remote", r.RemoteAddr),
			slog.String("request_id", middleware.GetReqID(r.Context())))
	})
}

// recoverPanics turns a panic into a logged internal error: no panic reaches
// a client.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic", "value", v, "path", r.URL.Path,
					"request_id", middleware.GetReqID(r.Context()))
				s.writeError(w, r, errPanic)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

var errPanic = &imprint.Error{Kind: imprint.Internal, Message: "internal error"}

func (s *server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	encode(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz answers 200 when the database answers and a CA key is loaded,
// 503 otherwise.
func (s *server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok", "ca": "ok"}
	status := http.StatusOK
	if err := s.store.Ping(ctx); err != nil {
		checks["database"], status = imprint.ErrorMessage(err), http.StatusServiceUnavailable
	}
	if err := s.ca.Ready(); err != nil {
		checks["ca"], status = imprint.ErrorMessage(err), http.StatusServiceUnavailable
	}
	if status != http.StatusOK {
		w.Header().Set("Retry-After", "1")
	}
	encode(w, status, map[string]any{"ready": status == http.StatusOK, "checks": checks})
}
