package policy

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/imprint-iot/imprint"
)

// A key is a policy variable or condition key, such as iot:ClientId or
// iot:Certificate.Subject.Organization.List, resolved against a Request.
type key struct {
	name   string // canonical spelling, reported as a missing context value
	kind   keyKind
	issuer bool   // certificate keys: the issuer, not the subject
	field  uint8  // certificate keys: index in nameFields or altFields
	index  int    // certificate keys: the value's index (.N)
	list   bool   // certificate keys: all values (.List)
	attr   string // keyThingAttribute: the attribute's name
}

type keyKind uint8

const (
	keyClientID keyKind = iota + 1
	keyCertificateID
	keySourceIP
	keyThingName
	keyThingTypeName
	keyThingAttribute
	keyThingIsAttached
	keyConnectAttributes
	keyCertSerial
	keyCertAvailableKeys
	keyCertName    // an attribute of the subject's or issuer's distinguished name
	keyCertAltName // an alternative name of the subject or issuer
)

// simpleKeys maps the lowercase spelling of the keys without parameters to
// their canonical spelling and kind.
var simpleKeys = map[string]key{
	"iot:clientid":                       {name: "iot:ClientId", kind: keyClientID},
	"iot:certificateid":                  {name: "iot:CertificateId", kind: keyCertificateID},
	"aws:sourceip":                       {name: "aws:SourceIp", kind: keySourceIP},
	"iot:connection.thing.thingname":     {name: "iot:Connection.Thing.ThingName", kind: keyThingName},
	"iot:thing.thingname":                {name: "iot:Connection.Thing.ThingName", kind: keyThingName},
	"iot:connection.thing.thingtypename": {name: "iot:Connection.Thing.ThingTypeName", kind: keyThingTypeName},
	"iot:connection.thing.isattached":    {name: "iot:Connection.Thing.IsAttached", kind: keyThingIsAttached},
	"iot:connectattributes":              {name: "iot:ConnectAttributes", kind: keyConnectAttributes},
	"iot:certificate.serialnumber":       {name: "iot:Certificate.SerialNumber", kind: keyCertSerial},
	"iot:certificate.availablekeys":      {name: "iot:Certificate.AvailableKeys", kind: keyCertAvailableKeys},
}

// nameFields are the distinguished name attributes, in Name's field order.
var nameFields = []string{
	"CommonName", "Country", "Organization", "OrganizationalUnit", "Locality",
	"State", "SerialNumber", "DistinguishedNameQualifier", "Title", "Surname",
	"GivenName", "Initials", "Pseudonym", "GenerationQualifier",
}

// altFields are the alternative name kinds, in AlternativeName's field order.
var altFields = []string{"DNSName", "RFC822Name", "UniformResourceIdentifier", "IPAddress", "DirectoryName"}

// The AWS IoT substitution limits of certificate values.
const (
	maxCertValues      = 5    // items of a list
	maxCertValueLength = 1024 // characters of a value
)

const thingAttributesPrefix = "iot:connection.thing.attributes["

// parseKey returns the key that name spells, without regard to case (except
// for a thing attribute's name), or false if there is no such key.
func parseKey(name string) (*key, bool) {
	lower := strings.ToLower(name)
	if k, ok := simpleKeys[lower]; ok {
		return &k, true
	}
	if n := len(thingAttributesPrefix); len(name) > n && strings.EqualFold(name[:n], thingAttributesPrefix) && strings.HasSuffix(name, "]") {
		attr := name[len(thingAttributesPrefix) : len(name)-1]
		if !validAttributeName(attr) {
			return nil, false
		}
		return &key{name: "iot:Connection.Thing.Attributes[" + attr + "]", kind: keyThingAttribute, attr: attr}, true
	}
	for _, side := range []string{"Subject", "Issuer"} {
		prefix := "iot:certificate." + strings.ToLower(side) + "."
		if strings.HasPrefix(lower, prefix) {
			return parseCertKey(lower[len(prefix):], side)
		}
	}
	return nil, false
}

// parseCertKey parses the part of a certificate key after its side.
func parseCertKey(rest, side string) (*key, bool) {
	k := &key{kind: keyCertName, issuer: side == "Issuer"}
	fields := nameFields
	canon := "iot:Certificate." + side + "."
	if after, ok := strings.CutPrefix(rest, "alternativename."); ok {
		k.kind, fields, rest = keyCertAltName, altFields, after
		canon += "AlternativeName."
	}
	attr, suffix, hasSuffix := strings.Cut(rest, ".")
	i := indexFold(fields, attr)
	if i < 0 {
		return nil, false
	}
	k.field = uint8(i)
	k.name = canon + fields[i]
	if !hasSuffix {
		return k, true
	}
	if suffix == "list" {
		k.list = true
		k.name += ".List"
		return k, true
	}
	n, ok := parseIndex(suffix)
	if !ok {
		return nil, false
	}
	k.index = n
	k.name += "." + suffix
	return k, true
}

func indexFold(list []string, s string) int {
	for i, v := range list {
		if strings.EqualFold(v, s) {
			return i
		}
	}
	return -1
}

// parseIndex parses a value index: decimal digits without a leading zero,
// at most 999.
func parseIndex(s string) (int, bool) {
	if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// validAttributeName reports whether s is a thing attribute name (see
// imprint.AttributeNameRule).
func validAttributeName(s string) bool { return imprint.AttributeNameRule.Valid(s) }

// multi reports whether the key has many values, and so can be a condition
// key but not a variable to substitute.
func (k *key) multi() bool {
	return k.list || k.kind == keyConnectAttributes || k.kind == keyCertAvailableKeys
}

// value resolves a single-valued key. It reports false if the request has
// no usable value for it.
func (k *key) value(req *Request) (string, bool) {
	switch k.kind {
	case keyClientID:
		return req.ClientID, req.ClientID != ""
	case keyCertificateID:
		return req.CertificateID, req.CertificateID != ""
	case keySourceIP:
		if !req.SourceIP.IsValid() {
			return "", false
		}
		return req.SourceIP.Unmap().String(), true
	case keyThingIsAttached:
		if req.Thing != nil && req.Thing.Attached {
			return "true", true
		}
		return "false", true
	case keyThingName, keyThingTypeName, keyThingAttribute:
		return k.thingValue(req.attachedThing())
	case keyCertSerial:
		if req.Certificate == nil || req.Certificate.SerialNumber == "" {
			return "", false
		}
		return certValue(req.Certificate.SerialNumber, false)
	case keyCertName, keyCertAltName:
		list := k.certList(req.Certificate)
		if k.list || k.index >= len(list) || k.index >= maxCertValues {
			return "", false
		}
		return certValue(list[k.index], k.kind == keyCertName)
	}
	return "", false
}

func (k *key) thingValue(t *Thing) (string, bool) {
	if t == nil {
		return "", false
	}
	switch k.kind {
	case keyThingName:
		return t.Name, t.Name != ""
	case keyThingTypeName:
		return t.TypeName, t.TypeName != ""
	}
	v, ok := t.Attributes[k.attr]
	return v, ok
}

// attachedThing returns the request's thing if the certificate is attached
// to it, else nil.
func (r *Request) attachedThing() *Thing {
	if r.Thing != nil && r.Thing.Attached {
		return r.Thing
	}
	return nil
}

// certList returns the values of a certificate attribute.
func (k *key) certList(c *Certificate) []string {
	if c == nil {
		return nil
	}
	n := &c.Subject
	if k.issuer {
		n = &c.Issuer
	}
	if k.kind == keyCertAltName {
		return n.AlternativeName.field(k.field)
	}
	return n.field(k.field)
}

// certValue applies AWS IoT's rules to a certificate value: one longer than
// 1,024 characters or holding a wildcard character does not resolve, and in
// a distinguished name attribute (dn) the characters , " \ = < > ; are
// escaped with a backslash.
func certValue(s string, dn bool) (string, bool) {
	if len(s) > maxCertValueLength && utf8.RuneCountInString(s) > maxCertValueLength {
		return "", false
	}
	if strings.ContainsAny(s, "*$+?#") {
		return "", false
	}
	if !dn || !strings.ContainsAny(s, ",\"\\=<>;") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(",\"\\=<>;", s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}

func (n *Name) field(i uint8) []string {
	if f := n.fieldPtr(i); f != nil {
		return *f
	}
	return nil
}

func (n *Name) fieldPtr(i uint8) *[]string {
	fields := [...]*[]string{
		&n.CommonName, &n.Country, &n.Organization, &n.OrganizationalUnit, &n.Locality,
		&n.State, &n.SerialNumber, &n.DistinguishedNameQualifier, &n.Title, &n.Surname,
		&n.GivenName, &n.Initials, &n.Pseudonym, &n.GenerationQualifier,
	}
	if int(i) < len(fields) {
		return fields[i]
	}
	return nil
}

func (a *AlternativeName) field(i uint8) []string {
	if f := a.fieldPtr(i); f != nil {
		return *f
	}
	return nil
}

func (a *AlternativeName) fieldPtr(i uint8) *[]string {
	fields := [...]*[]string{&a.DNSName, &a.RFC822Name, &a.UniformResourceIdentifier, &a.IPAddress, &a.DirectoryName}
	if int(i) < len(fields) {
		return fields[i]
	}
	return nil
}

// values is the set of values of a condition key in one request.
type values struct {
	one  string
	list []string
	n    int        // how many values: one (n <= 1) or list[:n]
	cert int8       // list items follow the certificate rules: 1, and 2 for dn
	ip   netip.Addr // aws:SourceIp, kept as an address
}

// values resolves a key to its values in req.
func (k *key) values(req *Request) values {
	switch {
	case k.kind == keySourceIP:
		if !req.SourceIP.IsValid() {
			return values{}
		}
		return values{ip: req.SourceIP.Unmap(), n: 1}
	case k.kind == keyConnectAttributes:
		return values{list: req.ConnectAttributes, n: len(req.ConnectAttributes)}
	case k.kind == keyCertAvailableKeys:
		if req.Certificate == nil {
			return values{}
		}
		list := req.Certificate.availableKeys()
		return values{list: list, n: len(list)}
	case k.list:
		list := k.certList(req.Certificate)
		v := values{list: list, n: min(len(list), maxCertValues), cert: 1}
		if k.kind == keyCertName {
			v.cert = 2
		}
		return v
	}
	s, ok := k.value(req)
	if !ok {
		return values{}
	}
	return values{one: s, n: 1}
}

// at returns value i, or false if the certificate rules leave it out.
func (v *values) at(i int) (string, bool) {
	switch {
	case v.ip.IsValid():
		return v.ip.String(), true
	case v.list == nil:
		return v.one, true
	case v.cert > 0:
		return certValue(v.list[i], v.cert == 2)
	}
	return v.list[i], true
}

// present reports whether the key has a usable value.
func (v *values) present() bool {
	for i := 0; i < v.n; i++ {
		if v.cert == 0 {
			return true
		}
		if _, ok := certValue(v.list[i], false); ok {
			return true
		}
	}
	return false
}

// availableKeys returns c.AvailableKeys, or computes it if nil.
func (c *Certificate) availableKeys() []string {
	if c.AvailableKeys != nil {
		return c.AvailableKeys
	}
	return computeAvailableKeys(c)
}

func computeAvailableKeys(c *Certificate) []string {
	out := []string{}
	if c.SerialNumber != "" {
		out = append(out, "iot:Certificate.SerialNumber")
	}
	for _, side := range []struct {
		name string
		n    *Name
	}{{"Subject", &c.Subject}, {"Issuer", &c.Issuer}} {
		for i, f := range nameFields {
			if len(side.n.field(uint8(i))) > 0 {
				out = append(out, "iot:Certificate."+side.name+"."+f)
			}
		}
		for i, f := range altFields {
			if len(side.n.AlternativeName.field(uint8(i))) > 0 {
				out = append(out, "iot:Certificate."+side.name+".AlternativeName."+f)
			}
		}
	}
	return out
}
