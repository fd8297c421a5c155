package policy

import "github.com/imprint-iot/imprint"

// Limits bounds a policy document, so that no document makes parsing,
// compiling or deciding slow. A zero field means its default.
type Limits struct {
	// MaxCharacters is the most characters a document may hold, not
	// counting whitespace (space, tab, CR, LF); default 2,048, as AWS IoT
	// (imprint.DefaultMaxPolicyCharacters). A server passes its one
	// configured limit (IMPRINT_POLICY_MAX_CHARACTERS) here and to the
	// provisioning templates that hold policy documents.
	MaxCharacters int
	// MaxBytes is the most bytes a document may hold, whitespace included;
	// default 65,536. It is checked before anything else.
	MaxBytes int
	// MaxStatements is the most statements of a document; default 100.
	MaxStatements int
	// MaxListLength is the most items of any list: actions, resources,
	// condition operators, keys of an operator, values of a key; default 256.
	MaxListLength int
}

// The default limits.
const (
	DefaultMaxCharacters = imprint.DefaultMaxPolicyCharacters
	DefaultMaxBytes      = 64 << 10
	DefaultMaxStatements = 100
	DefaultMaxListLength = 256
)

func (l Limits) withDefaults() Limits {
	if l.MaxCharacters <= 0 {
		l.MaxCharacters = DefaultMaxCharacters
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxStatements <= 0 {
		l.MaxStatements = DefaultMaxStatements
	}
	if l.MaxListLength <= 0 {
		l.MaxListLength = DefaultMaxListLength
	}
	return l
}

// An Option changes how Parse and Compile treat a document.
type Option func(*options)

type options struct {
	limits  Limits
	version string
}

// WithLimits sets the limits a document must keep; zero fields keep their
// defaults.
func WithLimits(l Limits) Option {
	return func(o *options) { o.limits = l }
}

// WithVersion records the policy version ID ("1", "2", ...) in the compiled
// Policy, for decisions and caches to report. Parse ignores it.
func WithVersion(id string) Option {
	return func(o *options) { o.version = id }
}

func collect(opts []Option) options {
	var o options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	o.limits = o.limits.withDefaults()
	return o
}
