package imprint

import "time"

// Webhook is a subscription of an HTTPS endpoint to event types. Deliveries
// are signed with HMAC-SHA256 under its secret, which is kept encrypted.
type Webhook struct {
	ID         string
	URL        string
	EventTypes []string
	// SealedSecret is the secret as stored: encrypted under a key derived
	// from the CA passphrase, never in clear.
	SealedSecret string
	Enabled      bool
	CreatedAt    time.Time
}

// Delivery is one event on its way to one webhook.
type Delivery struct {
	ID          int64
	WebhookID   string
	Event       Event
	Status      string // PENDING, DELIVERED or FAILED
	Attempts    int
	NextAttempt time.Time
	LastStatus  int    // the HTTP status of the last attempt, 0 if none came back
	LastError   string // why the last attempt failed
	DeliveredAt time.Time
	Webhook     *Webhook // set on deliveries claimed for an attempt
}

// DeliveryOutcome is what became of one delivery attempt.
type DeliveryOutcome struct {
	Status      string // DELIVERED, PENDING (to retry at NextAttempt) or FAILED
	NextAttempt time.Time
	HTTPStatus  int
	Error       string
}

// Delivery statuses.
const (
	DeliveryPending   = "PENDING"
	DeliveryDelivered = "DELIVERED"
	DeliveryFailed    = "FAILED"
)
