// Package provisioning holds Imprint's flows: issuing and renewing
// certificates, registering them, deciding what a certificate may do, and
// provisioning devices from templates. The REST API, the device gateway and
// the console call the same Engine, so a flow is written once whatever the
// door a request comes in by.
//
// The package speaks neither SQL nor HTTP nor MQTT: it declares the small
// interfaces it needs of the CA and the store, and the command wires
// *ca.Authority and *postgres.DB in.
package provisioning

import (
	"log/slog"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/outbound"
	"github.com/imprint-iot/imprint/policy"
)

// Config is what an Engine is built from. CA, Store and Log are required.
type Config struct {
	CA    CA
	Store Store
	Log   *slog.Logger
	// Standing hear of every change of a certificate's standing.
	Standing []StandingListener
	// Registered hear of every certificate a first connection on this
	// replica registered PENDING_ACTIVATION, and of every later attempt
	// while it waits (JITR), once the transaction committed.
	Registered []RegistrationListener
	// RenewalGrace is how long a renewed certificate stays valid (0: it is
	// revoked as superseded at once).
	RenewalGrace time.Duration
	// PolicyLimits bound the policy documents of templates, as the policy
	// API bounds those it stores.
	PolicyLimits policy.Limits
	// MaxTemplateVersions is how many versions a template may have
	// (imprint.DefaultMaxTemplateVersions if 0).
	MaxTemplateVersions int
	// Outbound checks pre-provisioning hook URLs; Secrets seals their
	// secrets. HookAllowHTTP lets hooks use plain http.
	Outbound      *outbound.Guard
	Secrets       Sealer
	HookAllowHTTP bool
	// Transactor runs the transactions of first connections; without it,
	// first connections are refused.
	Transactor Transactor
	// CacheCertificates keeps the ACTIVE certificates Connect reads in
	// memory, and what decided their connections (thing and effective
	// policies, per client ID), so that a reconnection reads no database.
	// Set it only when every notification of the store reaches
	// Engine.Notify (as the server wires them): changes made on other
	// replicas arrive only that way.
	CacheCertificates bool
	// Now is the clock; time.Now when nil. Tests move it.
	Now func() time.Time
}

// Store is everything the engine needs of the database; each flow takes
// only the part it uses.
type Store interface {
	AuthorizationStore
	IssuingStore
	LifecycleStore
	CAStore
	TemplateStore
	RegistrationStore
}

// Engine runs the flows. It is safe for concurrent use.
type Engine struct {
	ca           CA
	store        AuthorizationStore
	issuing      IssuingStore
	lifecycle    LifecycleStore
	cas          CAStore
	registration RegistrationStore
	standing     []StandingListener
	registered   []RegistrationListener
	renewalGrace time.Duration
	log          *slog.Logger
	now          func() time.Time
	policies     *policy.Cache // compiled policy versions, by name and version
	inflight     inflightKeys  // Idempotency-Keys of requests being served

	templatesDB   TemplateStore
	templates     templateCache
	policyLimits  policy.Limits
	maxVersions   int
	outbound      *outbound.Guard
	secrets       Sealer
	hookAllowHTTP bool
	provisioning  Transactor
	certs         *certCache  // nil unless Config.CacheCertificates
	authz         *authzCache // nil unless Config.CacheCertificates
}

// New returns an engine.
func New(cfg Config) *Engine {
	e := &Engine{ca: cfg.CA, store: cfg.Store, issuing: cfg.Store, lifecycle: cfg.Store, cas: cfg.Store,
		standing: cfg.Standing, renewalGrace: cfg.RenewalGrace, log: cfg.Log, now: cfg.Now, policies: policy.NewCache(0),
		templatesDB: cfg.Store, policyLimits: cfg.PolicyLimits, maxVersions: cfg.MaxTemplateVersions,
		outbound: cfg.Outbound, secrets: cfg.Secrets, hookAllowHTTP: cfg.HookAllowHTTP, provisioning: cfg.Transactor,
		registration: cfg.Store, registered: cfg.Registered}
	if cfg.CacheCertificates {
		// The cache hears of a change before anything that may ask again.
		e.certs = newCertCache()
		e.authz = newAuthzCache()
		e.standing = append([]StandingListener{e.certs}, cfg.Standing...)
	}
	if e.maxVersions <= 0 {
		e.maxVersions = imprint.DefaultMaxTemplateVersions
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	return e
}

// PolicyLimits returns the limits policy documents are checked under.
func (e *Engine) PolicyLimits() policy.Limits { return e.policyLimits }

// PolicyChanged drops what the engine has compiled of the named policy, so
// that the next decision reads it again. The API calls it when it deletes a
// policy or one of its versions.
func (e *Engine) PolicyChanged(name string) { e.policies.RemovePolicy(name) }
