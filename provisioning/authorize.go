package provisioning

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/policy"
)

// AuthorizationStore reads what a decision about a certificate needs.
type AuthorizationStore interface {
	Certificate(ctx context.Context, id string) (*imprint.Certificate, error)
	// AuthorizationThing returns the thing with the given name ("" for the
	// one thing the certificate is attached to), and whether the
	// certificate is attached to it. Returns NotFound if there is none.
	AuthorizationThing(ctx context.Context, certID, name string) (*imprint.Thing, bool, error)
	EffectivePolicies(ctx context.Context, certID, thingName string) ([]imprint.PolicyVersion, error)
	// AuthorizationGeneration counts the changes of what decides
	// connections (imprint.ChannelAuthorization) committed through this
	// store in this process, moved on before the call that made one
	// returns.
	AuthorizationGeneration() uint64
	Policy(ctx context.Context, name string) (*imprint.PolicyRecord, error)
	PolicyVersion(ctx context.Context, name string, version int) (*imprint.PolicyVersion, error)
}

// storedPolicyLimits are the limits stored documents are compiled under: a
// document that met the limits when it was stored is never refused later,
// should the server's character limit have been lowered since.
var storedPolicyLimits = policy.Limits{MaxCharacters: policy.DefaultMaxBytes}

// AuthorizeRequest asks how the policies of a certificate decide some
// actions, as a device holding it would ask them on a connection.
type AuthorizeRequest struct {
	CertificateID string
	ClientID      string     // the MQTT client ID, "" for none
	ThingName     string     // the thing the connection speaks for; "" to find it as a connection would
	SourceIP      netip.Addr // aws:SourceIp; the zero Addr for none
	Checks        []Check
	// PolicyNamesToAdd are decided with as if attached; PolicyNamesToSkip
	// are left out.
	PolicyNamesToAdd, PolicyNamesToSkip []string
}

// Check is one action on resources.
type Check struct {
	Action    policy.Action
	Resources []string
}

// Decision is how the policies decide one Check: EXPLICIT_DENY if any
// resource is denied, IMPLICIT_DENY if any is not allowed, ALLOWED if all
// are.
type Decision struct {
	Check  Check
	Result policy.Result
	// Allowing and Denying are the policies with a statement that allows or
	// denies some resource of the check; ImplicitDeny, when the result is
	// IMPLICIT_DENY, every policy that was read. Names, in the order read.
	Allowing, Denying, ImplicitDeny []string
	// Missing lists the policy variables and condition keys a statement
	// needed and the request had no value for.
	Missing []string
}

// Authorize decides each check of req with the default versions of the
// certificate's effective policies (attached to it, and to its thing's
// groups). It changes nothing. Returns NotFound for an unknown certificate,
// thing or added policy.
func (e *Engine) Authorize(ctx context.Context, req AuthorizeRequest) ([]Decision, error) {
	c, err := e.store.Certificate(ctx, req.CertificateID)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(c.DER)
	if err != nil {
		return nil, fmt.Errorf("parse stored certificate %s: %w", c.ID, err) // our data, not the client's: Internal
	}
	thing, err := e.authorizationThing(ctx, c.ID, req)
	if err != nil {
		return nil, err
	}
	policies, err := e.authorizationPolicies(ctx, c.ID, thing, req)
	if err != nil {
		return nil, err
	}
	base := policy.Request{ClientID: req.ClientID, CertificateID: c.ID, SourceIP: req.SourceIP, Thing: thing,
		Certificate: policy.CertificateContext(cert)}
	out := make([]Decision, len(req.Checks))
	for i, check := range req.Checks {
		out[i] = explainAll(base, check, policies)
	}
	return out, nil
}

// authorizationThing returns the thing the connection speaks for: the one
// named by ThingName, else the one the client ID names, else the one thing
// the certificate is attached to; nil if none.
func (e *Engine) authorizationThing(ctx context.Context, certID string, req AuthorizeRequest) (*policy.Thing, error) {
	var (
		t        *imprint.Thing
		attached bool
		err      error
	)
	switch {
	case req.ThingName != "":
		t, attached, err = e.store.AuthorizationThing(ctx, certID, req.ThingName)
	case req.ClientID != "" && imprint.ValidateName("clientId", req.ClientID) == nil:
		t, attached, err = e.store.AuthorizationThing(ctx, certID, req.ClientID)
		if imprint.ErrorKind(err) == imprint.NotFound {
			t, err = nil, nil
		}
	}
	if t == nil && err == nil && req.ThingName == "" {
		t, attached, err = e.store.AuthorizationThing(ctx, certID, "")
	}
	if err != nil || t == nil {
		return nil, err
	}
	return &policy.Thing{Name: t.Name, TypeName: t.TypeName, Attributes: t.Attributes, Attached: attached}, nil
}

// authorizationPolicies returns the compiled default versions of the
// certificate's effective policies and of PolicyNamesToAdd, without
// PolicyNamesToSkip.
func (e *Engine) authorizationPolicies(ctx context.Context, certID string, thing *policy.Thing, req AuthorizeRequest) ([]*policy.Policy, error) {
	thingName := ""
	if thing != nil && thing.Attached {
		thingName = thing.Name
	}
	vs, err := e.store.EffectivePolicies(ctx, certID, thingName)
	if err != nil {
		return nil, err
	}
	for _, name := range req.PolicyNamesToAdd {
		if slices.ContainsFunc(vs, func(v imprint.PolicyVersion) bool { return v.PolicyName == name }) {
			continue
		}
		p, err := e.store.Policy(ctx, name)
		var v *imprint.PolicyVersion
		if err == nil {
			v, err = e.store.PolicyVersion(ctx, name, p.DefaultVersion)
		}
		if err != nil {
			return nil, err
		}
		vs = append(vs, *v)
	}
	out := make([]*policy.Policy, 0, len(vs))
	for _, v := range vs {
		if slices.Contains(req.PolicyNamesToSkip, v.PolicyName) {
			continue
		}
		p, err := e.compileStored(v)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// compileStored compiles a stored policy version through the cache. The
// cache key holds the version's ID and its creation time, so that a policy
// deleted and created again under its name on another replica is never
// mistaken for the old one.
func (e *Engine) compileStored(v imprint.PolicyVersion) (*policy.Policy, error) {
	key := strconv.Itoa(v.VersionID) + "@" + strconv.FormatInt(v.CreatedAt.UnixMicro(), 10)
	p, err := e.policies.Compile(v.PolicyName, key, v.Document, policy.WithLimits(storedPolicyLimits))
	if err != nil {
		return nil, fmt.Errorf("stored policy %s version %d does not compile: %w", v.PolicyName, v.VersionID, err)
	}
	return p, nil
}

// explainAll decides one check: every resource is explained.
func explainAll(base policy.Request, check Check, policies []*policy.Policy) Decision {
	d := Decision{Check: check, Result: policy.Allowed, Allowing: []string{}, Denying: []string{},
		ImplicitDeny: []string{}, Missing: []string{}}
	for _, resource := range check.Resources {
		req := base
		req.Action, req.Resource = check.Action, resource
		x := policy.Explain(&req, policies...)
		d.Allowing = addNames(d.Allowing, x.Allowing)
		d.Denying = addNames(d.Denying, x.Denying)
		switch {
		case x.Result == policy.ExplicitDeny:
			d.Result = policy.ExplicitDeny
		case x.Result == policy.ImplicitDeny && d.Result == policy.Allowed:
			d.Result = policy.ImplicitDeny
		}
		for _, m := range x.Missing {
			if !slices.Contains(d.Missing, m) {
				d.Missing = append(d.Missing, m)
			}
		}
	}
	if d.Result == policy.ImplicitDeny {
		d.ImplicitDeny = addNames(d.ImplicitDeny, policies)
	}
	return d
}

func addNames(names []string, ps []*policy.Policy) []string {
	for _, p := range ps {
		if !slices.Contains(names, p.Name()) {
			names = append(names, p.Name())
		}
	}
	return names
}
