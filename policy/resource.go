package policy

import (
	"strings"

	"github.com/imprint-iot/imprint"
)

// resourceTypes are the types of resource an IoT policy governs.
var resourceTypes = []string{"client", "topic", "topicfilter", "thing", "rolealias"}

// Account is the partition, region and account that Imprint writes in the
// ARNs it reports, such as a policy's ARN in a TestAuthorization answer. An
// Imprint installation is one account: policies may name any region and
// account in their ARNs, and requests may too; neither is compared. A zero
// field means its value in DefaultAccount.
type Account struct {
	Partition string // "aws"
	Region    string // "local"
	ID        string // "000000000000"
}

// DefaultAccount is the account of an installation that configures none.
var DefaultAccount = Account{Partition: "aws", Region: "local", ID: "000000000000"}

// ARN returns the full ARN of a short-form resource, such as
// "arn:aws:iot:local:000000000000:topic/a/b" for "topic/a/b".
func (a Account) ARN(resource string) string {
	if a.Partition == "" {
		a.Partition = DefaultAccount.Partition
	}
	if a.Region == "" {
		a.Region = DefaultAccount.Region
	}
	if a.ID == "" {
		a.ID = DefaultAccount.ID
	}
	return "arn:" + a.Partition + ":iot:" + a.Region + ":" + a.ID + ":" + resource
}

// PolicyARN returns the ARN of the policy named name.
func (a Account) PolicyARN(name string) string { return a.ARN("policy/" + name) }

// NormalizeResource returns the short form of a request's resource: s itself
// if it is a short form such as "topic/a/b" or "*", or the part of an IoT
// ARN after its account, whatever its region and account. It returns an
// error of kind Invalid if s is neither, or names an unknown resource type.
func NormalizeResource(s string) (string, error) {
	short := s
	if strings.HasPrefix(s, "arn:") {
		fields := strings.SplitN(s, ":", 6)
		if len(fields) < 6 || fields[1] == "" || fields[2] != "iot" {
			return "", imprint.Errorf(imprint.Invalid, "resource %s is not an IoT ARN (arn:partition:iot:region:account:resource)", quote(s))
		}
		short = fields[5]
	}
	if short == "*" {
		return short, nil
	}
	typ, name, ok := strings.Cut(short, "/")
	if !ok || name == "" || !knownType(typ) {
		return "", imprint.Errorf(imprint.Invalid, "resource %s is not of the form type/name with type one of %s", quote(s), strings.Join(resourceTypes, ", "))
	}
	return short, nil
}

// shortResource is NormalizeResource without checks, for the hot path: an
// ARN of another service, or a malformed one, is returned whole and so
// matches only the resource "*".
func shortResource(s string) string {
	if !strings.HasPrefix(s, "arn:") {
		return s
	}
	colons := 0
	serviceAt := 0
	for i := 4; i < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		colons++
		switch colons {
		case 1:
			serviceAt = i + 1
		case 2:
			if s[serviceAt:i] != "iot" {
				return s
			}
		case 4:
			return s[i+1:]
		}
	}
	return s
}

func knownType(typ string) bool {
	for _, t := range resourceTypes {
		if typ == t {
			return true
		}
	}
	return false
}

// compileResource compiles a policy's Resource or NotResource entry: an ARN
// of any partition, region and account, a short form, or "*".
func compileResource(text string) (pattern, string) {
	rest := text
	if strings.HasPrefix(text, "arn:") {
		r, msg := arnResource(text)
		if msg != "" {
			return pattern{}, msg
		}
		rest = r
	}
	if rest == "" {
		return pattern{}, "empty resource"
	}
	p, msg := parsePattern(rest, true, true)
	if msg != "" {
		return pattern{}, msg
	}
	p.text = text
	return p, checkResourceType(&p)
}

// arnResource returns the resource part of a policy ARN. An ARN cut short by
// a field ending in '*', such as "arn:aws:iot:*", covers every resource.
func arnResource(text string) (string, string) {
	fields := strings.SplitN(text, ":", 6)
	if len(fields) >= 3 {
		if s := compileGlob(fields[2]); !s.matchString("iot") {
			return "", "ARN " + quote(text) + " names service " + quote(fields[2]) + ", not iot"
		}
	}
	if len(fields) < 6 {
		if strings.HasSuffix(fields[len(fields)-1], "*") {
			return "*", ""
		}
		return "", "ARN " + quote(text) + " is not of the form arn:partition:iot:region:account:resource"
	}
	if fields[1] == "" {
		return "", "ARN " + quote(text) + " has no partition"
	}
	return fields[5], ""
}

// checkResourceType checks that the literal start of a resource pattern
// names, or may name, a known resource type.
func checkResourceType(p *pattern) string {
	first := p.segs[0].elems
	if len(first) == 0 || first[0].kind != elemLit {
		return ""
	}
	lit := first[0].lit
	if typ, _, ok := strings.Cut(lit, "/"); ok {
		if knownType(typ) {
			return ""
		}
		return "unknown resource type " + quote(typ) + " (want one of " + strings.Join(resourceTypes, ", ") + ")"
	}
	if p.kind != patLiteral || len(p.segs[0].elems) > 1 {
		for _, t := range resourceTypes {
			if strings.HasPrefix(t+"/", lit) {
				return ""
			}
		}
	}
	return "resource " + quote(lit) + " is not of the form type/name (type one of " + strings.Join(resourceTypes, ", ") + ")"
}
