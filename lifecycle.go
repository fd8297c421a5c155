package imprint

import (
	"slices"
	"strings"
	"time"
)

// transitions is the one table of the certificate lifecycle: for each
// status, the statuses it may move to. REVOKED is terminal. PENDING_ACTIVATION
// is set only by Imprint itself (first connection, fleet provisioning) and
// left only by activation, deactivation or revocation.
var transitions = map[CertificateStatus][]CertificateStatus{
	CertificatePendingActivation: {CertificateActive, CertificateInactive, CertificateRevoked},
	CertificateActive:            {CertificateInactive, CertificateRevoked},
	CertificateInactive:          {CertificateActive, CertificateRevoked},
	CertificateRevoked:           nil,
}

// CanTransition reports whether a certificate may move from one status to
// another. Moving to the status it already has is not a transition.
func CanTransition(from, to CertificateStatus) bool {
	return slices.Contains(transitions[from], to)
}

// CheckTransition returns Conflict, naming the current status, unless a
// certificate may move from one status to the other.
func CheckTransition(id string, from, to CertificateStatus) error {
	if CanTransition(from, to) {
		return nil
	}
	if from == CertificateRevoked {
		return Errorf(Conflict, "certificate %s is REVOKED, which is final", id)
	}
	return Errorf(Conflict, "certificate %s is %s and cannot become %s", id, from, to)
}

// RevocationReason is a CRL reason code (RFC 5280 5.3.1).
type RevocationReason int

// The reason codes a client may give, and certificateHold, which Imprint
// uses for INACTIVE certificates.
const (
	ReasonUnspecified          RevocationReason = 0
	ReasonKeyCompromise        RevocationReason = 1
	ReasonCACompromise         RevocationReason = 2
	ReasonAffiliationChanged   RevocationReason = 3
	ReasonSuperseded           RevocationReason = 4
	ReasonCessationOfOperation RevocationReason = 5
	ReasonCertificateHold      RevocationReason = 6
	ReasonRemoveFromCRL        RevocationReason = 8
	ReasonPrivilegeWithdrawn   RevocationReason = 9
)

var reasonNames = map[RevocationReason]string{
	ReasonUnspecified:          "unspecified",
	ReasonKeyCompromise:        "keyCompromise",
	ReasonCACompromise:         "caCompromise",
	ReasonAffiliationChanged:   "affiliationChanged",
	ReasonSuperseded:           "superseded",
	ReasonCessationOfOperation: "cessationOfOperation",
	ReasonCertificateHold:      "certificateHold",
	ReasonRemoveFromCRL:        "removeFromCRL",
	ReasonPrivilegeWithdrawn:   "privilegeWithdrawn",
}

// String returns the RFC 5280 name of the reason.
func (r RevocationReason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return "unspecified"
}

// ParseRevocationReason returns the reason a client may name: the RFC 5280
// names except certificateHold (use INACTIVE) and removeFromCRL. An empty
// name is unspecified. Returns Invalid for anything else.
func ParseRevocationReason(name string) (RevocationReason, error) {
	if name == "" {
		return ReasonUnspecified, nil
	}
	for r, n := range reasonNames {
		if strings.EqualFold(n, name) && r != ReasonCertificateHold && r != ReasonRemoveFromCRL {
			return r, nil
		}
	}
	return 0, Errorf(Invalid, "unknown revocation reason %q (want unspecified, keyCompromise, caCompromise, "+
		"affiliationChanged, superseded, cessationOfOperation or privilegeWithdrawn)", name)
}

// Revocation records who revoked a certificate, when and why.
type Revocation struct {
	At     time.Time
	Reason RevocationReason
	By     string // the actor's name
}

// RevocationSelector chooses the certificates of a bulk revocation: a list of
// IDs, or a CA with a list of serials, or everything a CA issued in a window.
type RevocationSelector struct {
	IDs          []string
	CAID         string
	Serials      []string  // with CAID
	IssuedAfter  time.Time // with CAID: issued at or after
	IssuedBefore time.Time // with CAID: issued before
}

// MaxRevocationList is the most IDs or serials one bulk revocation may name.
const MaxRevocationList = 10_000

// Validate returns Invalid unless exactly one way of choosing is used.
func (s RevocationSelector) Validate() error {
	window := !s.IssuedAfter.IsZero() || !s.IssuedBefore.IsZero()
	switch {
	case len(s.IDs) > 0 && (s.CAID != "" || len(s.Serials) > 0 || window):
		return Errorf(Invalid, "give either certificateIds, or caId with serials or an issued window, not both")
	case len(s.IDs) > MaxRevocationList || len(s.Serials) > MaxRevocationList:
		return Errorf(Invalid, "at most %d certificate IDs or serials per request", MaxRevocationList)
	case len(s.IDs) > 0:
		return nil
	case s.CAID == "":
		return Errorf(Invalid, "name the certificates: certificateIds, or caId with serials or issuedAfter/issuedBefore")
	case len(s.Serials) > 0 && window:
		return Errorf(Invalid, "give caId with serials or with an issued window, not both")
	case len(s.Serials) == 0 && !window:
		return Errorf(Invalid, "with caId, give serials or issuedAfter/issuedBefore (to revoke everything a CA issued, give its whole lifetime)")
	case window && !s.IssuedAfter.IsZero() && !s.IssuedBefore.IsZero() && !s.IssuedAfter.Before(s.IssuedBefore):
		return Errorf(Invalid, "issuedAfter must be before issuedBefore")
	}
	return nil
}

// RevocationJob is a bulk revocation and how far it got.
type RevocationJob struct {
	ID             string
	Selector       RevocationSelector
	Reason         RevocationReason
	Status         string // RUNNING, SUCCEEDED or FAILED
	Matched        int64  // certificates the selector named when the job started
	AlreadyRevoked int64  // of those, revoked before the job
	Revoked        int64  // revoked by the job so far
	NotFound       int64  // IDs or serials that name no certificate
	Error          string
	Actor          Actor
	CreatedAt      time.Time
	UpdatedAt      time.Time
	FinishedAt     time.Time
}

// Job statuses.
const (
	JobRunning   = "RUNNING"
	JobSucceeded = "SUCCEEDED"
	JobFailed    = "FAILED"
)

// RenewalProof says what showed that a renewal's requester may replace the
// certificate it renews. It is recorded as "proof" in the
// certificate.renewed event.
type RenewalProof string

// The proofs a renewal may carry, strongest first.
const (
	// ProofSignature: the request held a signature, by the old
	// certificate's key, of the renewal message naming the certificate and
	// the new CSR.
	ProofSignature RenewalProof = "signature"
	// ProofSameKey: the CSR is for the old certificate's key, and its own
	// signature proves the requester holds that key.
	ProofSameKey RenewalProof = "same-key"
	// ProofAdmin: nothing proved possession of the old key; an admin token
	// renewed, which it may do with any key.
	ProofAdmin RenewalProof = "admin"
)
