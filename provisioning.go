package imprint

import "time"

// ProvisioningTemplate is a named provisioning template with its versions'
// shared settings. Its type is fixed at creation.
type ProvisioningTemplate struct {
	Name           string // see TemplateNameRule
	Description    string
	Type           TemplateType // TemplateJITP or TemplateFleetProvisioning
	Enabled        bool
	Hook           *PreProvisioningHook // nil: none
	DefaultVersion int
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// Body is the default version's body, when read with it.
	Body string
}

// PreProvisioningHook is the HTTPS endpoint asked before a fleet
// provisioning request is applied.
type PreProvisioningHook struct {
	URL          string
	SealedSecret string // encrypted, like webhook secrets
	TimeoutMs    int
}

// TemplateVersion is one version of a provisioning template's body.
type TemplateVersion struct {
	TemplateName string
	VersionID    int
	Body         string
	IsDefault    bool
	CreatedAt    time.Time
}

// Provisioning template limits.
const (
	DefaultMaxTemplateVersions = 5
)

// Event types of provisioning templates.
const (
	EventTemplateCreated        = "provisioning_template.created"
	EventTemplateUpdated        = "provisioning_template.updated"
	EventTemplateDeleted        = "provisioning_template.deleted"
	EventTemplateVersionCreated = "provisioning_template.version_created"
	EventTemplateVersionDeleted = "provisioning_template.version_deleted"
	EventCATemplateSet          = "ca.provisioning_template_set"
)

// TemplateUpdate is a change to a template; nil fields are left as they are.
type TemplateUpdate struct {
	Description    *string
	Enabled        *bool
	Hook           **PreProvisioningHook // points to nil to remove the hook
	DefaultVersion *int
}
