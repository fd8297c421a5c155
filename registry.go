package imprint

import "time"

// Thing is a device in the registry.
type Thing struct {
	Name       string // see ThingNameRule
	TypeName   string // empty: none
	Attributes map[string]string
	// Version grows with every update; an update may require the version it
	// read (optimistic concurrency).
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ThingType classifies things. A deprecated type takes no new things.
type ThingType struct {
	Name         string
	Description  string
	Deprecated   bool
	DeprecatedAt time.Time
	CreatedAt    time.Time
}

// ThingGroup is a static group of things, possibly under a parent group.
type ThingGroup struct {
	Name        string
	Parent      string // empty for a root group
	Description string
	Attributes  map[string]string
	CreatedAt   time.Time
}

// ThingFilter selects things in a listing. Zero fields do not filter.
type ThingFilter struct {
	TypeName       string
	GroupName      string
	AttributeName  string
	AttributeValue string // with AttributeName
	NamePrefix     string
	After          string // the last name of the previous page
	Limit          int
}

// PolicyRecord is a stored IoT policy: its name and default version.
type PolicyRecord struct {
	Name           string
	DefaultVersion int
	Document       string // the default version's document
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// PolicyVersion is one version of a policy's document.
type PolicyVersion struct {
	PolicyName string
	VersionID  int
	Document   string
	IsDefault  bool
	CreatedAt  time.Time
}

// Policy attachment targets.
const (
	TargetCertificate = "certificate"
	TargetThingGroup  = "thinggroup"
)

// Registry and policy event types.
const (
	EventThingCreated       = "thing.created"
	EventThingUpdated       = "thing.updated"
	EventThingDeleted       = "thing.deleted"
	EventThingTypeCreated   = "thing_type.created"
	EventThingTypeUpdated   = "thing_type.deprecated"
	EventThingTypeDeleted   = "thing_type.deleted"
	EventThingGroupCreated  = "thing_group.created"
	EventThingGroupDeleted  = "thing_group.deleted"
	EventThingGroupAdded    = "thing_group.thing_added"
	EventThingGroupRemoved  = "thing_group.thing_removed"
	EventPrincipalAttached  = "thing.principal_attached"
	EventPrincipalDetached  = "thing.principal_detached"
	EventPolicyCreated      = "policy.created"
	EventPolicyDeleted      = "policy.deleted"
	EventPolicyVersionAdded = "policy.version_created"
	EventPolicyVersionGone  = "policy.version_deleted"
	EventPolicyDefaultSet   = "policy.default_version_set"
	EventPolicyAttached     = "policy.attached"
	EventPolicyDetached     = "policy.detached"
)

// Principal is one attachment of a certificate to a thing.
type Principal struct {
	ThingName     string
	CertificateID string
	Exclusive     bool // EXCLUSIVE_THING: the certificate is this thing's alone
}

// ThingUpdate changes a thing. Zero fields are left as they are.
type ThingUpdate struct {
	TypeName        *string           // "" removes the type
	Attributes      map[string]string // replaces them, or merges with Merge ("" values remove)
	Merge           bool
	ExpectedVersion int64 // 0: any
}

// ChannelAuthorization announces a change of what decides a known
// certificate's connections besides its status: a thing changed or deleted,
// a thing's groups, a certificate's things, a policy's default version, a
// policy attached or detached; and of what provisions first connections: a
// provisioning template changed or deleted. The payload is empty: replicas
// forget every connection's authorization, and every template, they keep.
const ChannelAuthorization = "imprint_authorization"

// ChannelRegistrations relays a JITR attempt (a certificate registered
// PENDING_ACTIVATION by its first connection, or still pending when it
// connects again) to every replica, whose MQTT listener publishes it to its
// own subscribers. The payload is the replica's ID, a space, and the
// event's JSON.
const ChannelRegistrations = "imprint_registrations"
