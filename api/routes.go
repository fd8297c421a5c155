// Package api is Imprint's REST API: the /v1 routes, their handlers, token
// authentication, and the one table from error kinds to HTTP statuses,
// shared (as Common) with the other HTTP surfaces.
package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/outbound"
	"github.com/imprint-iot/imprint/policy"
	"github.com/imprint-iot/imprint/provisioning"
)

// Deps are what the API is built from. All are required but the options.
type Deps struct {
	Common *Common
	Engine *provisioning.Engine
	CA     CAReader
	Store  Store
	Jobs   JobRunner
	Events EventSource
	// Secrets seals webhook secrets.
	Secrets SecretSealer
	// Tokens verifies bearer tokens; feed it imprint.ChannelTokens so that
	// revocations on other replicas apply here at once.
	Tokens *TokenCache
	// WebhookAllowHTTP lets webhooks use plain http URLs.
	WebhookAllowHTTP bool
	// Outbound checks the hosts of webhook URLs when they are configured
	// (IMPRINT_OUTBOUND_ALLOW); nil allows public addresses only. Give the
	// dispatcher and the engine the same guard.
	Outbound *outbound.Guard
}

// Store is what the API reads and writes directly (an *postgres.DB): the
// union of what its handler groups declare. Changes that are flows go
// through the engine; bearer tokens are verified by the TokenCache.
type Store interface {
	TokenAdmin
	CertificateReader
	RevocationJobStore
	EventStore
	WebhookStore
	TemplateStore
	RegistryStore
	PolicyStore
}

// server holds the dependencies of the handlers, each store typed by the
// narrow interface of the handler group that uses it.
type server struct {
	*Common
	engine         *provisioning.Engine
	ca             CAReader
	tokens         TokenAdmin
	certs          CertificateReader
	revocationJobs RevocationJobStore
	auditLog       EventStore
	webhooks       WebhookStore
	templates      TemplateStore
	registry       RegistryStore
	policies       PolicyStore
	auth           *TokenCache
	jobs           JobRunner
	events         EventSource
	secrets        SecretSealer
	webhookHTTP    bool
	outbound       *outbound.Guard
	policyLimits   policy.Limits
}

// RequestTimeout bounds every request but the event stream.
const RequestTimeout = 60 * time.Second

// NewHandler returns the handler of the REST API, to be mounted at /v1
// behind Common's middleware: the routes below are relative to /v1.
func NewHandler(d Deps) http.Handler {
	s := &server{
		Common: d.Common, engine: d.Engine, ca: d.CA,
		tokens: d.Store, certs: d.Store, revocationJobs: d.Store, auditLog: d.Store, webhooks: d.Store,
		templates: d.Store, registry: d.Store, policies: d.Store,
		auth: d.Tokens, jobs: d.Jobs, events: d.Events, secrets: d.Secrets,
		webhookHTTP: d.WebhookAllowHTTP, outbound: d.Outbound,
		policyLimits: d.Engine.PolicyLimits(), // one policy limit for policies and templates
	}
	h := s.Handle
	role := func(roles ...imprint.Role) func(http.Handler) http.Handler {
		return RequireRole(s.auth, s.WriteError, roles...)
	}
	all := role(imprint.RoleAdmin, imprint.RoleFactory, imprint.RoleAuditor)
	readers := role(imprint.RoleAdmin, imprint.RoleAuditor)
	issuers := role(imprint.RoleAdmin, imprint.RoleFactory)
	admin := role(imprint.RoleAdmin)

	r := chi.NewRouter()
	r.With(readers).Get("/events/stream", h(s.handleEventStream)) // long-lived: no timeout
	r.Group(func(r chi.Router) {
		r.Use(Timeout)

		r.With(issuers).Post("/certificates", h(s.handleIssue))
		r.With(issuers).Post("/certificates/batch", h(s.handleIssueBatch))
		r.With(issuers).Post("/keys-and-certificate", h(s.handleKeysAndCertificate))
		r.With(issuers).Post("/certificates/{id}/renew", h(s.handleRenew))
		r.With(issuers).Post("/certificates:register", h(s.handleRegisterCertificate))
		r.With(issuers).Post("/certificates:register-batch", h(s.handleRegisterBatch))
		r.With(all).Get("/certificates", h(s.handleListCertificates))
		r.With(all).Get("/certificates/{id}", h(s.handleGetCertificate))
		r.With(admin).Patch("/certificates/{id}", h(s.handleSetStatus))
		r.With(admin).Post("/certificates/{id}/revoke", h(s.handleRevoke))
		r.With(admin).Post("/certificates/revoke", h(s.handleBulkRevoke))
		r.With(readers).Get("/revocation-jobs/{id}", h(s.handleGetJob))
		r.With(readers).Get("/certificates/{id}/things", h(s.handleCertificateThings))
		r.With(readers).Get("/certificates/{id}/policies", h(s.handleCertificatePolicies))
		r.With(readers).Get("/certificates/{id}/effective-policies", h(s.handleEffectivePolicies))

		r.With(all).Get("/cas", h(s.handleListCAs))
		r.With(admin).Post("/cas", h(s.handleCreateCA))
		r.With(admin).Post("/cas:register", h(s.handleRegisterCA))
		r.With(admin).Get("/registration-code", h(s.handleGetRegistrationCode))
		r.With(admin).Delete("/registration-code", h(s.handleDeleteRegistrationCode))
		r.With(all).Get("/cas/{id}", h(s.handleGetCA))
		r.With(admin).Patch("/cas/{id}", h(s.handleSetCAStatus))
		r.With(all).Get("/cas/{id}/chain", h(s.handleCAChain))

		r.With(admin).Post("/thing-types", h(s.handleCreateThingType))
		r.With(readers).Get("/thing-types", h(s.handleListThingTypes))
		r.With(readers).Get("/thing-types/{name}", h(s.handleGetThingType))
		r.With(admin).Patch("/thing-types/{name}", h(s.handleDeprecateThingType))
		r.With(admin).Delete("/thing-types/{name}", h(s.handleDeleteThingType))

		r.With(admin).Post("/things", h(s.handleCreateThing))
		r.With(readers).Get("/things", h(s.handleListThings))
		r.With(readers).Get("/things/{name}", h(s.handleGetThing))
		r.With(admin).Patch("/things/{name}", h(s.handleUpdateThing))
		r.With(admin).Delete("/things/{name}", h(s.handleDeleteThing))
		r.With(admin).Post("/things/{name}/revoke", h(s.handleRevokeThing))
		r.With(readers).Get("/things/{name}/principals", h(s.handleThingPrincipals))
		r.With(admin).Put("/things/{name}/principals/{id}", h(s.handleAttachPrincipal))
		r.With(admin).Delete("/things/{name}/principals/{id}", h(s.handleDetachPrincipal))

		r.With(admin).Post("/thing-groups", h(s.handleCreateThingGroup))
		r.With(readers).Get("/thing-groups", h(s.handleListThingGroups))
		r.With(readers).Get("/thing-groups/{name}", h(s.handleGetThingGroup))
		r.With(admin).Delete("/thing-groups/{name}", h(s.handleDeleteThingGroup))
		r.With(admin).Put("/thing-groups/{name}/things/{thing}", h(s.handleAddToGroup))
		r.With(admin).Delete("/thing-groups/{name}/things/{thing}", h(s.handleRemoveFromGroup))

		r.With(admin).Post("/policies", h(s.handleCreatePolicy))
		r.With(readers).Get("/policies", h(s.handleListPolicies))
		r.With(readers).Get("/policies/{name}", h(s.handleGetPolicy))
		r.With(admin).Patch("/policies/{name}", h(s.handleSetDefaultPolicyVersion))
		r.With(admin).Delete("/policies/{name}", h(s.handleDeletePolicy))
		r.With(admin).Post("/policies/{name}/versions", h(s.handleCreatePolicyVersion))
		r.With(readers).Get("/policies/{name}/versions", h(s.handleListPolicyVersions))
		r.With(readers).Get("/policies/{name}/versions/{version}", h(s.handleGetPolicyVersion))
		r.With(admin).Delete("/policies/{name}/versions/{version}", h(s.handleDeletePolicyVersion))
		r.With(readers).Get("/policies/{name}/targets", h(s.handleListPolicyTargets))
		r.With(admin).Put("/policies/{name}/targets/certificate/{id}", h(s.handleAttachPolicy(imprint.TargetCertificate)))
		r.With(admin).Delete("/policies/{name}/targets/certificate/{id}", h(s.handleDetachPolicy(imprint.TargetCertificate)))
		r.With(admin).Put("/policies/{name}/targets/thinggroup/{id}", h(s.handleAttachPolicy(imprint.TargetThingGroup)))
		r.With(admin).Delete("/policies/{name}/targets/thinggroup/{id}", h(s.handleDetachPolicy(imprint.TargetThingGroup)))
		r.With(readers).Post("/authorize", h(s.handleAuthorize))

		r.With(readers).Get("/provisioning-templates", h(s.handleListTemplates))
		r.With(admin).Post("/provisioning-templates", h(s.handleCreateTemplate))
		r.With(readers).Get("/provisioning-templates/{name}", h(s.handleGetTemplate))
		r.With(admin).Patch("/provisioning-templates/{name}", h(s.handlePatchTemplate))
		r.With(admin).Delete("/provisioning-templates/{name}", h(s.handleDeleteTemplate))
		r.With(readers).Post("/provisioning-templates/{name}:preview", h(s.handlePreview))
		r.With(readers).Get("/provisioning-templates/{name}/versions", h(s.handleListVersions))
		r.With(admin).Post("/provisioning-templates/{name}/versions", h(s.handleCreateVersion))
		r.With(readers).Get("/provisioning-templates/{name}/versions/{version}", h(s.handleGetVersion))
		r.With(admin).Delete("/provisioning-templates/{name}/versions/{version}", h(s.handleDeleteVersion))

		r.With(readers).Get("/events", h(s.handleListEvents))
		r.With(readers).Get("/webhooks", h(s.handleListWebhooks))
		r.With(admin).Post("/webhooks", h(s.handleCreateWebhook))
		r.With(admin).Delete("/webhooks/{id}", h(s.handleDeleteWebhook))
		r.With(readers).Get("/webhooks/{id}/deliveries", h(s.handleListDeliveries))

		r.With(admin).Get("/tokens", h(s.handleListTokens))
		r.With(admin).Post("/tokens", h(s.handleCreateToken))
		r.With(admin).Get("/tokens/{id}", h(s.handleGetToken))
		r.With(admin).Post("/tokens/{id}/revoke", h(s.handleRevokeToken))
	})
	r.NotFound(s.NotFound)
	r.MethodNotAllowed(s.MethodNotAllowed)
	return r
}
