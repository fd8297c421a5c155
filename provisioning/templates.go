package provisioning

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"sync"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/outbound"
	"github.com/imprint-iot/imprint/templates"
)

// TemplateStore keeps provisioning templates and their versions.
type TemplateStore interface {
	CreateTemplate(ctx context.Context, t *imprint.ProvisioningTemplate, actor imprint.Actor) error
	Template(ctx context.Context, name string) (*imprint.ProvisioningTemplate, error)
	UpdateTemplate(ctx context.Context, name string, u imprint.TemplateUpdate, actor imprint.Actor) (*imprint.ProvisioningTemplate, error)
	CreateTemplateVersion(ctx context.Context, name, body string, setDefault bool, maxVersions int, actor imprint.Actor) (*imprint.TemplateVersion, error)
	TemplateVersion(ctx context.Context, name string, id int) (*imprint.TemplateVersion, error)
}

// Sealer seals a secret for storage.
type Sealer interface {
	Seal(secret string) string
}

// Hook is a pre-provisioning hook as a request gives it: its secret in
// clear, to be sealed.
type Hook struct {
	URL       string
	Secret    string
	TimeoutMs int // 0 for the default, 5,000
}

// templateCache holds parsed templates by the hash of their type and body:
// a version is parsed once, however often it is used.
type templateCache struct {
	mu sync.Mutex
	m  map[[32]byte]*templates.Template
}

// maxCachedTemplates bounds the cache; past it, it starts afresh.
const maxCachedTemplates = 4096

// ParseTemplate parses and validates a template body of the given type
// through the engine's cache, its policy documents under the configured
// policy limits. Returns Invalid with every problem and its JSON path.
func (e *Engine) ParseTemplate(typ imprint.TemplateType, body string) (*templates.Template, error) {
	key := sha256.Sum256([]byte(string(typ) + "\x00" + body))
	c := &e.templates
	c.mu.Lock()
	t, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := templates.Parse(body, templates.Options{Type: typ,
		Limits:          templates.Limits{MaxPolicyCharacters: e.policyLimits.MaxCharacters},
		PolicyValidator: e.policyLimits.Validate})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedTemplates {
		c.m = map[[32]byte]*templates.Template{}
	}
	c.m[key] = t
	c.mu.Unlock()
	return t, nil
}

// CreateTemplate validates t's body and hook and records it, with its first
// version. Returns Invalid for a faulty body or hook, Conflict for a name
// taken.
func (e *Engine) CreateTemplate(ctx context.Context, actor imprint.Actor, t *imprint.ProvisioningTemplate, hook *Hook) error {
	if _, err := e.ParseTemplate(t.Type, t.Body); err != nil {
		return err
	}
	sealed, err := e.sealHook(hook)
	if err != nil {
		return err
	}
	t.Hook = sealed
	return e.templatesDB.CreateTemplate(ctx, t, actor)
}

// UpdateTemplate changes what u names of a template; hook, when set, is the
// new pre-provisioning hook (nil removes it).
func (e *Engine) UpdateTemplate(ctx context.Context, actor imprint.Actor, name string, u imprint.TemplateUpdate, hook **Hook) (*imprint.ProvisioningTemplate, error) {
	if hook != nil {
		sealed, err := e.sealHook(*hook)
		if err != nil {
			return nil, err
		}
		u.Hook = &sealed
	}
	return e.templatesDB.UpdateTemplate(ctx, name, u, actor)
}

// CreateTemplateVersion validates body against the template's type and
// records it as a new version (the default if setDefault). Returns NotFound,
// Invalid, and Conflict past the version limit.
func (e *Engine) CreateTemplateVersion(ctx context.Context, actor imprint.Actor, name, body string, setDefault bool) (*imprint.TemplateVersion, error) {
	t, err := e.templatesDB.Template(ctx, name)
	if err != nil {
		return nil, err
	}
	if _, err := e.ParseTemplate(t.Type, body); err != nil {
		return nil, err
	}
	return e.templatesDB.CreateTemplateVersion(ctx, name, body, setDefault, e.maxVersions, actor)
}

// PreviewRequest asks what a template would do.
type PreviewRequest struct {
	Name       string
	VersionID  int // 0 for the default version
	Parameters map[string]string
	// CertificatePEM, if not empty, gives the certificate-derived
	// parameters of a JITP template.
	CertificatePEM string
}

// MaxPreviewCertificate is the largest certificate a preview takes.
const MaxPreviewCertificate = 64 << 10

// PreviewTemplate evaluates a version of a template against the request's
// parameters and returns the plan. Nothing is applied. Returns NotFound for
// an unknown template or version, Invalid for a bad certificate or a plan
// the template cannot make.
func (e *Engine) PreviewTemplate(ctx context.Context, req PreviewRequest) (*templates.Plan, error) {
	t, err := e.templatesDB.Template(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	body := t.Body
	if req.VersionID != 0 && req.VersionID != t.DefaultVersion {
		v, err := e.templatesDB.TemplateVersion(ctx, t.Name, req.VersionID)
		if err != nil {
			return nil, err
		}
		body = v.Body
	}
	tpl, err := e.ParseTemplate(t.Type, body)
	if err != nil {
		return nil, err
	}
	in := templates.Input{Parameters: req.Parameters}
	if req.CertificatePEM != "" {
		block, _ := pem.Decode([]byte(req.CertificatePEM))
		if block == nil || block.Type != "CERTIFICATE" || len(req.CertificatePEM) > MaxPreviewCertificate {
			return nil, imprint.Errorf(imprint.Invalid, "certificatePem must be one PEM CERTIFICATE of at most 64 KiB")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, imprint.Errorf(imprint.Invalid, "certificatePem: %v", err)
		}
		in.Certificate = templates.CertificateParameters(cert)
	}
	return tpl.Evaluate(in)
}

// sealHook checks a hook (its URL as outbound requests are checked, its
// secret and deadline) and seals its secret; nil for none.
func (e *Engine) sealHook(h *Hook) (*imprint.PreProvisioningHook, error) {
	if h == nil {
		return nil, nil
	}
	if err := e.outbound.CheckURL(h.URL, e.hookAllowHTTP); err != nil {
		return nil, imprint.Errorf(imprint.Invalid, "preProvisioningHook: %s", imprint.ErrorMessage(err))
	}
	if err := outbound.CheckSecret(h.Secret); err != nil {
		return nil, imprint.Errorf(imprint.Invalid, "preProvisioningHook: %s", imprint.ErrorMessage(err))
	}
	timeout := h.TimeoutMs
	if timeout == 0 {
		timeout = 5000
	}
	if timeout < 100 || timeout > 5000 {
		return nil, imprint.Errorf(imprint.Invalid, "preProvisioningHook.timeoutMs must be from 100 to 5000")
	}
	return &imprint.PreProvisioningHook{URL: h.URL, SealedSecret: e.secrets.Seal(h.Secret), TimeoutMs: timeout}, nil
}
