package policy

// Result is the outcome of an authorization. The zero Result is
// ImplicitDeny.
type Result uint8

// The results, as AWS IoT's TestAuthorization names them.
const (
	ImplicitDeny Result = iota // no statement allows the request
	Allowed                    // a statement allows it and none denies it
	ExplicitDeny               // a statement denies it
)

// String returns "IMPLICIT_DENY", "ALLOWED" or "EXPLICIT_DENY".
func (r Result) String() string {
	switch r {
	case Allowed:
		return "ALLOWED"
	case ExplicitDeny:
		return "EXPLICIT_DENY"
	}
	return "IMPLICIT_DENY"
}

// MaxResourceLength is the longest request resource, in bytes, that Decide
// and Explain evaluate; a longer one is denied (ImplicitDeny) without
// evaluation, which bounds the cost of matching. MQTT topics of AWS IoT are
// at most 256 bytes.
const MaxResourceLength = 8192

// Decision is the outcome of Decide.
type Decision struct {
	Result Result
	// Policy is the policy that decided: the first with a statement that
	// denies the request, else the first with one that allows it. It is nil
	// for ImplicitDeny.
	Policy *Policy
}

// Allowed reports whether the request is allowed.
func (d Decision) Allowed() bool { return d.Result == Allowed }

// Decide evaluates req against the policies, as AWS IoT does: a request is
// denied unless a statement allows it (ImplicitDeny), and a statement that
// denies it wins over any that allow it (ExplicitDeny). A statement matches
// when the request's action is among its actions, its resource matches (or,
// for NotResource, does not), every condition holds, and every policy
// variable it uses resolves. Nil policies are skipped.
//
// Decide allocates nothing unless a policy reads aws:SourceIp as a string, a
// certificate value that needs escaping, or iot:Certificate.AvailableKeys
// not filled in the request.
func Decide(req *Request, policies ...*Policy) Decision {
	a := req.Action
	if !a.Valid() || len(req.Resource) > MaxResourceLength {
		return Decision{}
	}
	resource := shortResource(req.Resource)
	for _, p := range policies {
		if p == nil {
			continue
		}
		for _, s := range p.deny[a] {
			if s.matches(req, resource, nil) {
				return Decision{Result: ExplicitDeny, Policy: p}
			}
		}
	}
	for _, p := range policies {
		if p == nil {
			continue
		}
		for _, s := range p.allow[a] {
			if s.matches(req, resource, nil) {
				return Decision{Result: Allowed, Policy: p}
			}
		}
	}
	return Decision{}
}

// Explanation is the outcome of Explain: what AWS IoT's TestAuthorization
// reports for one request.
type Explanation struct {
	Result Result
	// Allowing lists the policies with a statement that allows the request,
	// and Denying those with one that denies it, in the order given.
	Allowing []*Policy
	Denying  []*Policy
	// Missing lists the policy variables and condition keys that statements
	// for the request's action needed and the request had no value for,
	// such as "iot:Connection.Thing.ThingName", once each.
	Missing []string
}

// Explain evaluates req against the policies like Decide, and reports every
// policy that allows or denies it and the context values it lacked. With
// ImplicitDeny, the policies evaluated are the ones that did not allow it.
func Explain(req *Request, policies ...*Policy) Explanation {
	var e Explanation
	a := req.Action
	if !a.Valid() || len(req.Resource) > MaxResourceLength {
		return e
	}
	resource := shortResource(req.Resource)
	tr := &trace{}
	for _, p := range policies {
		if p == nil {
			continue
		}
		if anyMatch(p.deny[a], req, resource, tr) {
			e.Denying = append(e.Denying, p)
		}
		if anyMatch(p.allow[a], req, resource, tr) {
			e.Allowing = append(e.Allowing, p)
		}
	}
	switch {
	case len(e.Denying) > 0:
		e.Result = ExplicitDeny
	case len(e.Allowing) > 0:
		e.Result = Allowed
	}
	e.Missing = tr.missing
	return e
}

// anyMatch evaluates every statement, so that all missing values are traced.
func anyMatch(stmts []*statement, req *Request, resource string, tr *trace) bool {
	matched := false
	for _, s := range stmts {
		if s.matches(req, resource, tr) {
			matched = true
		}
	}
	return matched
}

// matches reports whether the statement applies to the request.
func (s *statement) matches(req *Request, resource string, tr *trace) bool {
	resolved := true
	for _, k := range s.vars {
		if _, ok := k.value(req); !ok {
			if tr == nil {
				return false
			}
			tr.miss(k.name)
			resolved = false
		}
	}
	if !resolved || s.resourceMatches(req, resource) == s.notResource {
		return false
	}
	for i := range s.conds {
		if !s.conds[i].eval(req, tr) {
			return false
		}
	}
	return true
}

func (s *statement) resourceMatches(req *Request, resource string) bool {
	for i := range s.resources {
		if s.resources[i].match(resource, req) {
			return true
		}
	}
	return false
}

// trace collects the context values an evaluation missed. A nil *trace
// collects nothing.
type trace struct {
	missing []string
}

func (t *trace) miss(name string) {
	if t == nil {
		return
	}
	for _, m := range t.missing {
		if m == name {
			return
		}
	}
	t.missing = append(t.missing, name)
}
