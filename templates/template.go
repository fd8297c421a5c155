package templates

import (
	"unicode/utf8"

	"github.com/imprint-iot/imprint"
)

// Type is the kind of a provisioning template: the root's
// imprint.TemplateType, named here too for callers of this package.
type Type = imprint.TemplateType

// The template types, the root's constants: JITP and FleetProvisioning are
// the types a stored template may have; Registration is for the template
// bodies passed to the control-plane RegisterThing and to bulk
// registration, which are not stored.
const (
	FleetProvisioning = imprint.TemplateFleetProvisioning
	JITP              = imprint.TemplateJITP
	Registration      = imprint.TemplateRegistration
)

// Options controls Parse. The zero value parses a fleet provisioning
// template with the default limits, Imprint's extensions enabled, every
// Ref checked against the declared parameters, and JSON-level policy checks.
type Options struct {
	// Type is the template type; empty means FleetProvisioning, AWS IoT's
	// default.
	Type Type
	// Limits bounds the template and the work of evaluating it; zero fields
	// take their defaults.
	Limits Limits
	// AllowUndeclaredParameters accepts a Ref or Fn::Sub variable naming a
	// parameter that the Parameters section does not declare (as some AWS
	// examples do); it is then a parameter without a default. By default
	// such a reference is a problem.
	AllowUndeclaredParameters bool
	// DisableExtensions rejects what AWS IoT does not document: the
	// Conditions section, Condition on resources, Fn::If, Fn::Equals,
	// Fn::Not, Fn::And, Fn::Or, AWS::NoValue and the Imprint::Certificate::*
	// parameters.
	DisableExtensions bool
	// PolicyValidator, if not nil, is called with every policy document
	// after the JSON-level checks: at Parse for literal documents, at
	// Evaluate for computed ones. The error's text becomes the problem's
	// message.
	PolicyValidator func(document []byte) error
}

// Limits bounds a template and the work and output of evaluating it, so that
// no template makes evaluation slow or its plan large. A zero field means
// its default.
type Limits struct {
	MaxBodyLength      int // characters of the template body; default 10,240 (AWS IoT's limit)
	MaxDepth           int // nesting of JSON arrays and objects; default 32
	MaxListLength      int // items of any list, literal or computed; default 100
	MaxValueLength     int // bytes of any one computed string; default 16,384
	MaxOutputLength    int // bytes computed by one evaluation in total; default 65,536
	MaxParameterLength int // characters of one parameter value; default 4,096 (AWS IoT's limit)
	MaxPolicies        int // policy resources; default 10
	MaxAttributes      int // thing attributes; default 50 (imprint.MaxThingAttributes)
	MaxThingGroups     int // thing groups; default 10 (imprint.MaxGroupsPerThing)
	// MaxPolicyCharacters bounds every policy document of the template, not
	// counting whitespace; default imprint.DefaultMaxPolicyCharacters (2,048).
	// Give the server's configured limit, the one its policy API checks.
	MaxPolicyCharacters int
}

// The default limits.
const (
	DefaultMaxBodyLength      = 10240
	DefaultMaxDepth           = 32
	DefaultMaxListLength      = 100
	DefaultMaxValueLength     = 16384
	DefaultMaxOutputLength    = 65536
	DefaultMaxParameterLength = 4096
	DefaultMaxPolicies        = 10
	DefaultMaxAttributes      = imprint.MaxThingAttributes
	DefaultMaxThingGroups     = imprint.MaxGroupsPerThing
)

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxBodyLength, DefaultMaxBodyLength)
	def(&l.MaxDepth, DefaultMaxDepth)
	def(&l.MaxListLength, DefaultMaxListLength)
	def(&l.MaxValueLength, DefaultMaxValueLength)
	def(&l.MaxOutputLength, DefaultMaxOutputLength)
	def(&l.MaxParameterLength, DefaultMaxParameterLength)
	def(&l.MaxPolicies, DefaultMaxPolicies)
	def(&l.MaxAttributes, DefaultMaxAttributes)
	def(&l.MaxThingGroups, DefaultMaxThingGroups)
	def(&l.MaxPolicyCharacters, imprint.DefaultMaxPolicyCharacters)
	return l
}

// Template is a parsed and validated provisioning template. It is immutable
// and safe for concurrent use: parse each template version once, keep the
// *Template, and call Evaluate for every device.
type Template struct {
	typ        Type
	limits     Limits
	validator  func([]byte) error
	params     []*param // declared, in order
	certParams []*param // declared certificate-derived parameters without a Default
	mappings   map[string]map[string]map[string]string
	conds      []*condition
	thing      *thingResource
	cert       *certResource
	policies   []*policyResource
	config     []keyedExpr // DeviceConfiguration
	hasConfig  bool
}

// Parameter is a parameter declared in a template's Parameters section.
type Parameter struct {
	Name       string
	Type       string // always "String"
	Default    string
	HasDefault bool
}

// Type returns the template's type.
func (t *Template) Type() Type { return t.typ }

// Parameters returns the declared parameters, in the order of the template.
func (t *Template) Parameters() []Parameter {
	out := make([]Parameter, len(t.params))
	for i, p := range t.params {
		out[i] = Parameter{Name: p.name, Type: "String", Default: p.def, HasDefault: p.hasDefault}
	}
	return out
}

// Parse parses and validates a template body, a JSON object as AWS IoT's
// templateBody holds it. It returns an *imprint.Error of kind Invalid
// wrapping a *ValidationError that lists every problem found, each with its
// JSON path.
func Parse(body string, opts Options) (*Template, error) {
	if opts.Type == "" {
		opts.Type = FleetProvisioning
	}
	if !opts.Type.Valid() && opts.Type != Registration {
		return nil, imprint.Errorf(imprint.Invalid, "unknown template type %s (want JITP or FLEET_PROVISIONING)", quote(string(opts.Type)))
	}
	c := &compiler{opts: opts, limits: opts.Limits.withDefaults()}
	c.t = &Template{typ: opts.Type, limits: c.limits, validator: opts.PolicyValidator}
	if n := len(body); n > 4*c.limits.MaxBodyLength || utf8.RuneCountInString(body) > c.limits.MaxBodyLength {
		c.ps.Add("", "the template body is longer than "+itoa(c.limits.MaxBodyLength)+" characters")
		return nil, c.ps.Err(imprint.Invalid, "invalid template")
	}
	root := decodeJSON(body, c.limits.MaxDepth, &c.ps)
	if root != nil {
		c.compile(root)
	}
	if err := c.ps.Err(imprint.Invalid, "invalid template"); err != nil {
		return nil, err
	}
	return c.t, nil
}
