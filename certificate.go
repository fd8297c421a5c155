package imprint

import (
	"time"
)

// CertificateStatus is the lifecycle state of a device certificate. The names
// are AWS IoT's, so that documents and automation move over unchanged.
type CertificateStatus string

// The certificate statuses. Only ACTIVE certificates authenticate a device.
const (
	CertificateActive            CertificateStatus = "ACTIVE"
	CertificateInactive          CertificateStatus = "INACTIVE"
	CertificateRevoked           CertificateStatus = "REVOKED"
	CertificatePendingActivation CertificateStatus = "PENDING_ACTIVATION"
)

// Valid reports whether s is one of the known statuses.
func (s CertificateStatus) Valid() bool {
	switch s {
	case CertificateActive, CertificateInactive, CertificateRevoked, CertificatePendingActivation:
		return true
	}
	return false
}

// Certificate is a device certificate that Imprint issued or registered.
type Certificate struct {
	// ID is the lowercase hex SHA-256 of DER, as AWS IoT computes it.
	ID string
	// Serial is the serial number in lowercase hex, unique per CA.
	Serial       string
	CAID         string
	Subject      string // the RFC 2253 form of the subject
	CommonName   string
	SANs         []string // "dns:…", "ip:…", "uri:…", "email:…"
	KeyAlgorithm KeyType
	NotBefore    time.Time
	NotAfter     time.Time
	Status       CertificateStatus
	DER          []byte
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// StatusChangedAt is when Status last changed.
	StatusChangedAt time.Time
	// Revocation is set when Status is REVOKED.
	Revocation *Revocation
	// RenewedFrom and SupersededBy link a certificate and its renewal.
	RenewedFrom  string
	SupersededBy string
	// ProvisionedAt is when a template provisioned the certificate on its
	// first connection; zero if none has.
	ProvisionedAt time.Time
}

// CertificateFilter selects certificates in a listing. Zero fields do not
// filter. After is the cursor returned by the previous page.
type CertificateFilter struct {
	CAID          string
	Status        CertificateStatus
	CommonName    string
	CreatedAfter  time.Time
	CreatedBefore time.Time
	After         string // opaque cursor from a previous page
	Limit         int    // 1..MaxPageSize; 0 means DefaultPageSize
}

// Page sizes of every listing.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// PageLimit returns n clamped to a valid page size.
func PageLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultPageSize
	case n > MaxPageSize:
		return MaxPageSize
	}
	return n
}
