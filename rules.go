package imprint

import (
	"slices"
	"strconv"
	"unicode/utf8"
)

// The name and limit rules of the registry, of policies and of provisioning
// templates live here, once: the api checks requests with them, the
// templates package checks the names a template makes, and the policy
// package checks policy names and document sizes. Each rule reports a
// Problem with the path of the element at fault.

// Name and size limits (AWS IoT's).
const (
	// MaxThingNameLength bounds thing, thing type, thing group and billing
	// group names alike.
	MaxThingNameLength    = 128
	MaxPolicyNameLength   = 128
	MaxTemplateNameLength = 36
	MaxAttributeName      = 128
	MaxAttributeValue     = 800
	MaxThingAttributes    = 50 // attribute pairs of a thing or a thing group
	MaxGroupsPerThing     = 10
	DefaultPolicyVersion  = 5 // versions a policy may have
	// MaxTemplateDescription bounds the description of a provisioning
	// template, a thing type or a thing group, in characters.
	MaxTemplateDescription = 500
	// DefaultMaxPolicyCharacters is the most characters, whitespace aside,
	// an IoT policy document may have unless the server is configured
	// otherwise (IMPRINT_POLICY_MAX_CHARACTERS). Every check of a policy
	// document, in the policy API and in provisioning templates, takes the
	// one configured value.
	DefaultMaxPolicyCharacters = 2048
)

// NameRule is one of AWS IoT's rules for a kind of name or value: a length
// range and the characters allowed, letters and digits of ASCII and some
// punctuation. The rules are the package's variables such as ThingNameRule;
// a NameRule is safe for concurrent use.
type NameRule struct {
	what     string
	min, max int
	extra    string
	allowed  [256]bool
}

func newNameRule(what string, min, max int, extra string) *NameRule {
	r := &NameRule{what: what, min: min, max: max, extra: extra}
	for c := 'a'; c <= 'z'; c++ {
		r.allowed[c] = true
		r.allowed[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		r.allowed[c] = true
	}
	for i := 0; i < len(extra); i++ {
		r.allowed[extra[i]] = true
	}
	return r
}

// The naming rules, from AWS IoT's API model.
var (
	// ThingNameRule: 1 to 128 of [a-zA-Z0-9:_-].
	ThingNameRule = newNameRule("thing name", 1, MaxThingNameLength, ":_-")
	// ThingTypeNameRule: 1 to 128 of [a-zA-Z0-9:_-].
	ThingTypeNameRule = newNameRule("thing type name", 1, MaxThingNameLength, ":_-")
	// ThingGroupNameRule: 1 to 128 of [a-zA-Z0-9:_-].
	ThingGroupNameRule = newNameRule("thing group name", 1, MaxThingNameLength, ":_-")
	// BillingGroupNameRule: 1 to 128 of [a-zA-Z0-9:_-].
	BillingGroupNameRule = newNameRule("billing group name", 1, MaxThingNameLength, ":_-")
	// AttributeNameRule: 1 to 128 of [a-zA-Z0-9_.,@/:#-].
	AttributeNameRule = newNameRule("attribute name", 1, MaxAttributeName, "_.,@/:#-")
	// AttributeValueRule: 0 to 800 of [a-zA-Z0-9_.,@/:#=[]-].
	AttributeValueRule = newNameRule("attribute value", 0, MaxAttributeValue, "_.,@/:#=[]-")
	// PolicyNameRule: 1 to 128 of [a-zA-Z0-9_+=,.@-].
	PolicyNameRule = newNameRule("policy name", 1, MaxPolicyNameLength, "_+=,.@-")
	// TemplateNameRule: 1 to 36 of [a-zA-Z0-9_-].
	TemplateNameRule = newNameRule("template name", 1, MaxTemplateNameLength, "_-")

	// registryNameRule is the rule thing, thing type and thing group names
	// share, for ValidateName.
	registryNameRule = newNameRule("name", 1, MaxThingNameLength, ":_-")
)

// What names the kind of name, as messages do: "thing name".
func (r *NameRule) What() string { return r.what }

// MaxLength returns the most characters a name may have.
func (r *NameRule) MaxLength() int { return r.max }

// Allowed describes the characters allowed, as messages do: "letters,
// digits and :_-".
func (r *NameRule) Allowed() string { return "letters, digits and " + r.extra }

// ForbiddenChar returns the first character of s that the rule does not
// allow (a byte that is not UTF-8 on its own), or "" if there is none.
func (r *NameRule) ForbiddenChar(s string) string {
	for i := 0; i < len(s); i++ {
		if !r.allowed[s[i]] {
			// Every allowed character is one ASCII byte, so a character
			// starts at i; a byte that starts none is returned alone.
			_, size := utf8.DecodeRuneInString(s[i:])
			return s[i : i+size]
		}
	}
	return ""
}

// Valid reports whether s satisfies the rule, without saying why not.
func (r *NameRule) Valid(s string) bool {
	return len(s) >= r.min && len(s) <= r.max && r.ForbiddenChar(s) == ""
}

// Problem returns "" if s satisfies the rule, or what is wrong, such as
// `the thing name "a b" contains " "; allowed are letters, digits and :_-`.
// A forbidden character is reported before the length, so that a length in
// bytes is one in characters too.
func (r *NameRule) Problem(s string) string {
	if len(s) < r.min {
		return "the " + r.what + " is empty"
	}
	if c := r.ForbiddenChar(s); c != "" {
		return "the " + r.what + " " + Quote(s) + " contains " + Quote(c) + "; allowed are " + r.Allowed()
	}
	if len(s) > r.max {
		return "the " + r.what + " " + Quote(s) + " is longer than " + strconv.Itoa(r.max) + " characters"
	}
	return ""
}

// Check adds to ps, under path, the problem of s if it breaks the rule, and
// reports whether s satisfies it.
func (r *NameRule) Check(ps *Problems, path, s string) bool {
	if msg := r.Problem(s); msg != "" {
		ps.Add(path, msg)
		return false
	}
	return true
}

// Validate returns nil if s satisfies the rule, or an Invalid *Error
// wrapping a *ValidationError with the one problem of s under path (the
// request field, such as "thingName"; "" for none).
func (r *NameRule) Validate(path, s string) error {
	var ps Problems
	r.Check(&ps, path, s)
	return ps.Err(Invalid, "")
}

// ValidateName returns Invalid unless name is a thing, thing type or thing
// group name, which share one rule: 1 to 128 of [a-zA-Z0-9:_-]. what is the
// path of the field, such as "thingName", that the problem names. Checking
// one kind of name, prefer its rule: ThingNameRule.Validate(path, name).
func ValidateName(what, name string) error {
	return registryNameRule.Validate(what, name)
}

// ValidatePolicyName returns Invalid unless name is a policy name: 1 to 128
// of [a-zA-Z0-9_+=,.@-]. The problem has no path; to name the field, use
// PolicyNameRule.Validate(path, name).
func ValidatePolicyName(name string) error {
	return PolicyNameRule.Validate("", name)
}

// ValidateTemplateName returns Invalid unless name is a provisioning
// template name: 1 to 36 of [a-zA-Z0-9_-]. The problem is under path.
func ValidateTemplateName(path, name string) error {
	return TemplateNameRule.Validate(path, name)
}

// ValidateAttributes returns Invalid unless attrs are at most
// MaxThingAttributes pairs whose names and values keep AttributeNameRule
// and AttributeValueRule, listing every problem under the path
// "attributes".
func ValidateAttributes(attrs map[string]string) error {
	var ps Problems
	CheckAttributes(&ps, "attributes", attrs, MaxThingAttributes)
	return ps.Err(Invalid, "")
}

// CheckAttributes adds to ps a problem for each way attrs break the rules
// of thing and thing group attributes: more than max pairs (under path), a
// name that breaks AttributeNameRule or a value that breaks
// AttributeValueRule (under the attribute's path, ChildPath(path, name)).
// Attributes are checked in the order of their names.
func CheckAttributes(ps *Problems, path string, attrs map[string]string, max int) {
	if !CheckAttributeCount(ps, path, len(attrs), max) {
		return
	}
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if AttributeNameRule.Check(ps, ChildPath(path, k), k) {
			AttributeValueRule.Check(ps, ChildPath(path, k), attrs[k])
		}
	}
}

// CheckAttributeCount adds to ps, under path, a problem if n attributes are
// more than max, and reports whether they are within it.
func CheckAttributeCount(ps *Problems, path string, n, max int) bool {
	if n > max {
		ps.Add(path, "at most "+strconv.Itoa(max)+" attributes are allowed, not "+strconv.Itoa(n))
		return false
	}
	return true
}

// ValidateDescription returns Invalid, with the problem under path, unless
// d is at most MaxTemplateDescription characters of UTF-8 with no control
// or bidirectional formatting character (see SafeText): the rule of the
// descriptions of provisioning templates, thing types and thing groups.
func ValidateDescription(path, d string) error {
	if utf8.RuneCountInString(d) > MaxTemplateDescription || !SafeText(d) {
		var ps Problems
		ps.Add(path, "must be at most "+strconv.Itoa(MaxTemplateDescription)+
			" characters of UTF-8 with no control or bidirectional formatting characters")
		return ps.Err(Invalid, "")
	}
	return nil
}

// PolicyCharacters returns the characters of a policy document that count
// against the size limit: all but JSON's whitespace (space, tab, CR, LF).
func PolicyCharacters(document string) int {
	n := 0
	for i := 0; i < len(document); i++ {
		switch c := document[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		case c&0xc0 == 0x80: // a UTF-8 continuation byte
		default:
			n++
		}
	}
	return n
}

// PolicySizeProblem returns "" if document has at most max characters
// besides whitespace (DefaultMaxPolicyCharacters if max <= 0), or what is
// wrong: "the policy document has 2049 characters besides whitespace; the
// limit is 2048".
func PolicySizeProblem(document string, max int) string {
	if max <= 0 {
		max = DefaultMaxPolicyCharacters
	}
	if n := PolicyCharacters(document); n > max {
		return "the policy document has " + strconv.Itoa(n) + " characters besides whitespace; the limit is " + strconv.Itoa(max)
	}
	return ""
}

// ChildPath returns the path of the member key of the object at path, as
// problems name it: "Properties.ThingName", or `attributes["a b"]` for a
// key that holds a dot, a bracket, a quote, a space or a non-ASCII byte.
func ChildPath(path, key string) string {
	if needsQuote(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func needsQuote(key string) bool {
	if key == "" {
		return true
	}
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case c == '.' || c == '[' || c == ']' || c == '"' || c <= ' ' || c >= 0x7f:
			return true
		}
	}
	return false
}

// Quote returns s quoted as a Go string for a message, escaping what is not
// printable, and cut to 64 bytes followed by "..." if it is longer.
func Quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && s[cut]&0xc0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

// TemplateType is the type of a provisioning template. It decides which
// parameters a template receives and how the certificate may be named, and
// is fixed when a template is created.
type TemplateType string

// The template types. JITP and FLEET_PROVISIONING are AWS IoT's stored
// template types; REGISTRATION is Imprint's name for the template bodies
// passed to the control-plane RegisterThing and to bulk registration, which
// are not stored.
const (
	// TemplateFleetProvisioning templates are used by RegisterThing over the
	// device API: request parameters, pre-provisioning hook overrides and
	// AWS::IoT::Certificate::Id. The certificate is named by CertificateId.
	TemplateFleetProvisioning TemplateType = "FLEET_PROVISIONING"
	// TemplateJITP templates run when a device first connects with a
	// certificate of a registered CA: they receive only certificate-derived
	// parameters.
	TemplateJITP TemplateType = "JITP"
	// TemplateRegistration templates are used by the factory's RegisterThing
	// and bulk registration: request parameters only; the certificate may
	// be named by CertificateId, CertificateSigningRequest or CertificatePem.
	TemplateRegistration TemplateType = "REGISTRATION"
)

// Valid reports whether t is a type a stored provisioning template may
// have: TemplateJITP or TemplateFleetProvisioning.
func (t TemplateType) Valid() bool {
	return t == TemplateJITP || t == TemplateFleetProvisioning
}

// ValidateTemplateType returns Invalid, with the problem under path, unless
// t is a type a stored template may have (see TemplateType.Valid).
func ValidateTemplateType(path string, t TemplateType) error {
	if t.Valid() {
		return nil
	}
	var ps Problems
	ps.Add(path, "must be "+string(TemplateJITP)+" or "+string(TemplateFleetProvisioning)+", not "+Quote(string(t)))
	return ps.Err(Invalid, "")
}
