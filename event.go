package imprint

import (
	"encoding/json"
	"time"
)

// Event types recorded in the audit log.
const (
	EventCertificateIssued = "certificate.issued"
	EventCACreated         = "ca.created"
	EventTokenCreated      = "token.created"
	EventTokenRevoked      = "token.revoked"
)

// Event is one entry of the append-only audit log. It is written in the
// transaction of the change it records.
type Event struct {
	ID           int64
	Type         string
	ResourceType string // "certificate", "ca", "token", …
	ResourceID   string
	Actor        Actor
	Data         json.RawMessage // a JSON object, or nil
	CreatedAt    time.Time
}

// Event types of the certificate lifecycle.
const (
	EventCertificateActivated   = "certificate.activated"
	EventCertificateDeactivated = "certificate.deactivated"
	EventCertificateRevoked     = "certificate.revoked"
	EventCertificateRenewed     = "certificate.renewed"
	EventCAActivated            = "ca.activated"
	EventCADeactivated          = "ca.deactivated"
	EventCAAutoRegistrationSet  = "ca.auto_registration_set"
	// EventCertificateRegistered records a certificate Imprint did not
	// issue, registered on its first connection or by an admin.
	EventCertificateRegistered = "certificate.registered"
	// EventCertificateProvisioned records a template's provisioning of a
	// certificate (its thing, policies and status) on its first connection.
	EventCertificateProvisioned = "certificate.provisioned"
	// EventProvisioningFailed records a first connection whose template
	// could not provision the certificate; nothing else of it was written.
	EventProvisioningFailed = "provisioning.failed"
	EventWebhookCreated     = "webhook.created"
	EventWebhookDeleted     = "webhook.deleted"
)

// EventTypes lists every event type, for validating subscriptions.
var EventTypes = []string{
	EventCertificateIssued, EventCertificateActivated, EventCertificateDeactivated, EventCertificateRevoked,
	EventCertificateRenewed, EventCACreated, EventCAActivated, EventCADeactivated, EventCAAutoRegistrationSet, EventCertificateRegistered,
	EventCertificateProvisioned, EventProvisioningFailed, EventTokenCreated,
	EventWebhookCreated, EventWebhookDeleted, EventTemplateCreated, EventTemplateUpdated, EventTemplateDeleted,
	EventTemplateVersionCreated, EventTemplateVersionDeleted, EventCATemplateSet,
	EventThingCreated, EventThingUpdated, EventThingDeleted, EventThingTypeCreated, EventThingTypeUpdated,
	EventThingTypeDeleted, EventThingGroupCreated, EventThingGroupDeleted, EventThingGroupAdded,
	EventThingGroupRemoved, EventPrincipalAttached, EventPrincipalDetached, EventPolicyCreated,
	EventPolicyDeleted, EventPolicyVersionAdded, EventPolicyVersionGone, EventPolicyDefaultSet,
	EventPolicyAttached, EventPolicyDetached,
	EventTokenRevoked,
	EventRegistrationCodeCreated, EventRegistrationCodeDeleted, EventCARegistered,
}

// EventFilter selects audit events. Zero fields do not filter.
type EventFilter struct {
	Type         string
	ResourceType string
	ResourceID   string
	After        time.Time
	Before       time.Time
	Cursor       EventCursor // events after this position
	Limit        int
}

// EventCursor is a position in the audit log read as an outbox: events come
// in (transaction, id) order, and only from transactions older than every
// running one, so that none committed late is ever passed over.
type EventCursor struct {
	TxID uint64
	ID   int64
}

// MarshalJSON encodes e as the API, the event stream and webhook deliveries
// show it: {id, type, resourceType, resourceId, actor: {name, role}, data,
// createdAt}, with data left out when nil and the time in UTC.
func (e Event) MarshalJSON() ([]byte, error) {
	type actor struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	return json.Marshal(struct {
		ID           int64           `json:"id"`
		Type         string          `json:"type"`
		ResourceType string          `json:"resourceType"`
		ResourceID   string          `json:"resourceId"`
		Actor        actor           `json:"actor"`
		Data         json.RawMessage `json:"data,omitempty"`
		CreatedAt    time.Time       `json:"createdAt"`
	}{e.ID, e.Type, e.ResourceType, e.ResourceID, actor{e.Actor.Name, string(e.Actor.Role)}, e.Data, e.CreatedAt.UTC()})
}
