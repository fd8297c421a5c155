package imprint

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// KeyType names a public key algorithm and size.
type KeyType string

// The key types Imprint knows. Device keys are restricted per CA by its
// IssuanceProfile; CA keys are ECDSA.
const (
	KeyECDSAP256 KeyType = "EC-P256"
	KeyECDSAP384 KeyType = "EC-P384"
	KeyEd25519   KeyType = "Ed25519"
	KeyRSA2048   KeyType = "RSA-2048"
	KeyRSA3072   KeyType = "RSA-3072"
	KeyRSA4096   KeyType = "RSA-4096"
)

// KeyTypes lists every accepted device key type, strongest-supported first.
var KeyTypes = []KeyType{KeyECDSAP256, KeyECDSAP384, KeyEd25519, KeyRSA2048, KeyRSA3072, KeyRSA4096}

// Valid reports whether k is a known key type.
func (k KeyType) Valid() bool { return slices.Contains(KeyTypes, k) }

// CAStatus is the state of a CA. An INACTIVE CA issues nothing.
type CAStatus string

// The CA statuses.
const (
	CAActive   CAStatus = "ACTIVE"
	CAInactive CAStatus = "INACTIVE"
)

// CARole says where a CA sits in the hierarchy.
type CARole string

// The CA roles.
const (
	CARoot    CARole = "root"    // self-signed; signs issuing CAs only
	CAIssuing CARole = "issuing" // Imprint holds its key and issues device certificates
	// CAExternal is a customer's CA registered with Imprint: Imprint trusts the
	// device certificates it signs but never holds its key.
	CAExternal CARole = "external"
)

// SAN types an issuance profile may allow.
const (
	SANDNS   = "dns"
	SANIP    = "ip"
	SANURI   = "uri"
	SANEmail = "email"
)

// CA is a certificate authority: one Imprint holds the key of (a root or an
// issuing CA), or a customer's CA registered with Imprint (external).
type CA struct {
	// ID is the lowercase hex SHA-256 of the CA certificate's DER.
	ID           string
	Name         string
	Role         CARole
	ParentID     string // empty for a root
	Status       CAStatus
	Subject      string
	CommonName   string
	Serial       string
	KeyAlgorithm KeyType
	// KeyURI locates the private key: "softkms:path=/data/ca/x.key" today,
	// a PKCS#11 or cloud KMS URI tomorrow. The key itself is never stored.
	// Empty for an external CA.
	KeyURI    string
	DER       []byte
	NotBefore time.Time
	NotAfter  time.Time
	Profile   IssuanceProfile
	// ProvisioningTemplate names the JITP template the CA's devices are
	// provisioned with on first connection; empty for none.
	ProvisioningTemplate string
	// AutoRegistration lets devices whose certificates the CA signed register
	// (and be provisioned) on their first connection.
	AutoRegistration bool
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// CAUpdate is a change to a CA; nil fields are left as they are.
type CAUpdate struct {
	Status               *CAStatus
	AutoRegistration     *bool
	ProvisioningTemplate *string // the JITP template's name, "" for none
}

// IssuanceProfile is what an issuing CA will sign. The zero value is not
// usable; DefaultProfile gives the defaults.
type IssuanceProfile struct {
	ValidityDays int       `json:"validityDays"`
	KeyTypes     []KeyType `json:"keyTypes"`
	// CommonNamePattern is an RE2 expression a device's common name must match
	// in full; empty means any non-empty common name.
	CommonNamePattern string   `json:"commonNamePattern,omitempty"`
	SANTypes          []string `json:"sanTypes"`
}

// Limits of issuance profiles.
const (
	DefaultValidityDays = 3650
	MaxValidityDays     = 36500
	MaxCommonNameLength = 64 // RFC 5280 ub-common-name
)

// DefaultProfile returns the profile of a CA created without one: ten years,
// every accepted key type, any common name, DNS and URI names.
func DefaultProfile() IssuanceProfile {
	return IssuanceProfile{
		ValidityDays: DefaultValidityDays,
		KeyTypes:     slices.Clone(KeyTypes),
		SANTypes:     []string{SANDNS, SANURI},
	}
}

// Validate returns Invalid if the profile cannot be used.
func (p IssuanceProfile) Validate() error {
	if p.ValidityDays < 1 || p.ValidityDays > MaxValidityDays {
		return Errorf(Invalid, "profile.validityDays must be between 1 and %d", MaxValidityDays)
	}
	if len(p.KeyTypes) == 0 {
		return Errorf(Invalid, "profile.keyTypes must name at least one key type")
	}
	for _, k := range p.KeyTypes {
		if !k.Valid() {
			return Errorf(Invalid, "profile.keyTypes: unknown key type %q (want one of %v)", k, KeyTypes)
		}
	}
	for _, s := range p.SANTypes {
		switch s {
		case SANDNS, SANIP, SANURI, SANEmail:
		default:
			return Errorf(Invalid, "profile.sanTypes: unknown SAN type %q (want dns, ip, uri or email)", s)
		}
	}
	if p.CommonNamePattern != "" {
		if len(p.CommonNamePattern) > 512 {
			return Errorf(Invalid, "profile.commonNamePattern is longer than 512 characters")
		}
		if _, err := regexp.Compile(p.CommonNamePattern); err != nil {
			return Errorf(Invalid, "profile.commonNamePattern: %v", err)
		}
	}
	return nil
}

// CommonNameRegexp compiles the profile's pattern anchored at both ends, or
// returns nil if the profile has none.
func (p IssuanceProfile) CommonNameRegexp() (*regexp.Regexp, error) {
	if p.CommonNamePattern == "" {
		return nil, nil
	}
	re, err := regexp.Compile(fmt.Sprintf("^(?:%s)$", p.CommonNamePattern))
	if err != nil {
		return nil, Errorf(Invalid, "profile.commonNamePattern: %v", err)
	}
	return re, nil
}
