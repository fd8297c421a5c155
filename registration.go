package imprint

// Event types of registration: of the registration code and of customer
// CAs (device certificates signed elsewhere are EventCertificateRegistered).
const (
	EventRegistrationCodeCreated = "registration_code.created"
	EventRegistrationCodeDeleted = "registration_code.deleted"
	// EventCARegistered records a customer's CA registered as external; its
	// data says how its key was proved ("proof": "verification-certificate"
	// or "none").
	EventCARegistered = "ca.registered"
)

// The proofs of possession a CA registration records.
const (
	ProofVerificationCertificate = "verification-certificate"
	ProofNone                    = "none"
)
