package policy

import "net/netip"

// Request is the context of one authorization: what a device asks to do, and
// what is known of the connection, its thing and its certificate. A zero
// field is unknown, and the policy variables and condition keys that read it
// do not resolve.
type Request struct {
	// Action is what the device asks to do.
	Action Action
	// Resource is what it asks to do it on: a short form such as
	// "topic/room/1/temp" or "client/sensor-1", or a full ARN
	// ("arn:aws:iot:<region>:<account>:topic/room/1/temp") of any region and
	// account. ActionListRetainedMessages and
	// ActionListNamedShadowsForThing take "*".
	Resource string
	// ClientID is the MQTT client ID (iot:ClientId).
	ClientID string
	// CertificateID is the ID of the client certificate, the lowercase hex
	// SHA-256 of its DER (iot:CertificateId).
	CertificateID string
	// SourceIP is the client's address (aws:SourceIp).
	SourceIP netip.Addr
	// ConnectAttributes lists the CONNECT's attributes, such as
	// "PersistentConnect" and "LastWill" (iot:ConnectAttributes).
	ConnectAttributes []string
	// Thing is the thing the connection speaks for, or nil if none.
	Thing *Thing
	// Certificate is what the client certificate says, or nil if the
	// client has none. CertificateContext fills one from an x509.Certificate.
	Certificate *Certificate
}

// Thing is what a policy may read of the thing a connection speaks for: the
// thing named by the client ID, or the one the certificate is exclusively
// attached to.
type Thing struct {
	// Name is the thing's name (iot:Connection.Thing.ThingName).
	Name string
	// TypeName is the thing's type, or "" if it has none
	// (iot:Connection.Thing.ThingTypeName).
	TypeName string
	// Attributes are the thing's attributes
	// (iot:Connection.Thing.Attributes[name]).
	Attributes map[string]string
	// Attached reports whether the client's certificate is attached to the
	// thing (iot:Connection.Thing.IsAttached). Unless it is true, the name,
	// type and attributes do not resolve: a device cannot borrow the
	// identity of a thing it does not hold the certificate of.
	Attached bool
}

// Certificate is what a policy may read of a client certificate, through the
// iot:Certificate.* policy variables. Lists are in certificate order. The
// AWS IoT substitution rules apply when a policy reads them, not here: only
// the first five items of a list count, and a value longer than 1,024
// characters or holding a wildcard character (* $ + ? #) does not resolve.
type Certificate struct {
	// SerialNumber is the serial number as a decimal integer, as AWS IoT
	// gives it (iot:Certificate.SerialNumber).
	SerialNumber string
	// Subject and Issuer are the certificate's subject and issuer
	// (iot:Certificate.Subject.* and iot:Certificate.Issuer.*).
	Subject, Issuer Name
	// AvailableKeys lists the names of the certificate variables that have
	// a value, such as "iot:Certificate.Subject.CommonName"
	// (iot:Certificate.AvailableKeys). If nil, it is computed when a policy
	// reads it; CertificateContext fills it.
	AvailableKeys []string
}

// Name is what a certificate says of its subject or its issuer: the
// attributes of the distinguished name and the alternative names. The field
// names are those of the policy variables.
type Name struct {
	CommonName                 []string // CN, 2.5.4.3
	Country                    []string // C, 2.5.4.6
	Organization               []string // O, 2.5.4.10
	OrganizationalUnit         []string // OU, 2.5.4.11
	Locality                   []string // L, 2.5.4.7 (an Imprint extension)
	State                      []string // ST, 2.5.4.8
	SerialNumber               []string // SERIALNUMBER, 2.5.4.5
	DistinguishedNameQualifier []string // dnQualifier, 2.5.4.46
	Title                      []string // 2.5.4.12
	Surname                    []string // SN, 2.5.4.4
	GivenName                  []string // GN, 2.5.4.42
	Initials                   []string // 2.5.4.43
	Pseudonym                  []string // 2.5.4.65
	GenerationQualifier        []string // 2.5.4.44
	// AlternativeName holds the subject (or issuer) alternative names.
	AlternativeName AlternativeName
}

// AlternativeName holds the alternative names of a certificate's subject
// (the subjectAltName extension) or issuer (issuerAltName), RFC 5280
// sections 4.2.1.6 and 4.2.1.7.
type AlternativeName struct {
	DNSName                   []string
	RFC822Name                []string // email addresses
	UniformResourceIdentifier []string
	IPAddress                 []string // in netip.Addr.String form
	DirectoryName             []string // in RFC 2253 form, as pkix.Name.String gives it
}
