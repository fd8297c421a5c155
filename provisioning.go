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

// NewDevice is the provisioning of a certificate unknown to Imprint on its
// first connection, when its template's plan is one the store can apply
// together with other devices' (a new thing in no group, policies attached
// to the certificate, the certificate ACTIVE): everything the one
// transaction of a first connection writes, decided beforehand.
type NewDevice struct {
	// Certificate is recorded as it is, in its final status, and marked
	// provisioned by Template.
	Certificate *Certificate
	// Registered and Provisioned are the data of the certificate's
	// certificate.registered and certificate.provisioned audit events.
	Registered, Provisioned any
	// Thing is created, with the certificate attached to it; nil for none.
	Thing *Thing
	// Policies are attached to the certificate in order; each with a
	// Document is created first unless a policy of that name exists.
	Policies []NewDevicePolicy
	Template string
	Actor    Actor

	// PolicyVersions is set by the store when it applied the device: the
	// default versions of the certificate's policies, one a name, when it
	// could read them all in the same statement (nil otherwise).
	PolicyVersions []PolicyVersion
}

// NewDevicePolicy is a policy a NewDevice attaches to its certificate.
type NewDevicePolicy struct {
	Name     string
	Document string // "": an existing policy
}
