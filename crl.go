package imprint

import "time"

// CRLEntry is one certificate on a CRL: revoked, on hold (INACTIVE), or, on a
// delta CRL only, released from hold (ReasonRemoveFromCRL).
type CRLEntry struct {
	Serial    string // lowercase hex
	RevokedAt time.Time
	Reason    RevocationReason
}

// CRLTemplate describes a CRL to sign (RFC 5280 5.1).
type CRLTemplate struct {
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
	// DeltaBase, when not zero, makes this a delta CRL listing the changes
	// since the full CRL of that number (RFC 5280 5.2.4).
	DeltaBase int64
	// Entries is how many entries to expect, to size buffers; 0 if unknown.
	Entries int
}

// CRLEntries yields a CRL's entries one at a time; ok is false after the last.
type CRLEntries func() (e CRLEntry, ok bool, err error)

// CRL is a signed CRL as published.
type CRL struct {
	CAID       string
	Number     int64
	Delta      bool
	BaseNumber int64 // of a delta CRL
	ThisUpdate time.Time
	NextUpdate time.Time
	Entries    int
	DER        []byte
	// BuiltAt is the start of the transaction that read the certificates:
	// every change committed before it is on this CRL.
	BuiltAt time.Time
}

// CRLSigner signs a CRL with the given entries.
type CRLSigner func(t CRLTemplate, entries CRLEntries) ([]byte, error)

// Notification channels between replicas (PostgreSQL LISTEN/NOTIFY).
const (
	// ChannelRevocations carries every change of a certificate's standing on
	// CRLs and in OCSP: "<caID> <serial>", or "<caID> *" for many at once.
	ChannelRevocations = "imprint_revocations"
	// ChannelCRLs announces a newly published CRL; the payload is the CA ID.
	ChannelCRLs = "imprint_crls"
)

// Standing is what CRLs and OCSP say of a certificate.
type Standing struct {
	Status          CertificateStatus
	StatusChangedAt time.Time
	Revocation      *Revocation // when REVOKED
}

// OCSPSigner is a delegated OCSP responder certificate (RFC 6960 4.2.2.2)
// that Imprint made for one of its CAs. Its key is a file, like CA keys.
type OCSPSigner struct {
	ID        string // lowercase hex SHA-256 of DER
	CAID      string
	DER       []byte
	KeyURI    string
	NotBefore time.Time
	NotAfter  time.Time
}

// ChannelCAs announces a change of a CA (its status); the payload is its ID.
const ChannelCAs = "imprint_cas"
