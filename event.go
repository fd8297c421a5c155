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
