package api

import (
	"context"
	"crypto/x509"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/policy"
)

// Limits of an authorization request, AWS IoT's TestAuthorization's where
// it has them.
const (
	maxAuthInfos        = 10
	maxAuthResources    = 100
	maxAuthPolicyNames  = 100
	maxAuthClientLength = 128
)

// storedPolicyLimits are the limits stored documents are compiled under: a
// document that met the limits when it was stored is never refused later,
// should the server's character limit have been lowered since.
var storedPolicyLimits = policy.Limits{MaxCharacters: policy.DefaultMaxBytes}

// authActions are TestAuthorization's action types.
var authActions = map[string]policy.Action{
	"CONNECT":   policy.ActionConnect,
	"PUBLISH":   policy.ActionPublish,
	"SUBSCRIBE": policy.ActionSubscribe,
	"RECEIVE":   policy.ActionReceive,
}

type authInfo struct {
	ActionType string   `json:"actionType"`
	Resources  []string `json:"resources"`
}

// authorizeRequest is AWS IoT's TestAuthorization request, with clientId in
// the body and thingName added.
type authorizeRequest struct {
	Principal             string     `json:"principal"`
	CognitoIdentityPoolID string     `json:"cognitoIdentityPoolId"`
	ClientID              string     `json:"clientId"`
	ThingName             string     `json:"thingName"`
	AuthInfos             []authInfo `json:"authInfos"`
	PolicyNamesToAdd      []string   `json:"policyNamesToAdd"`
	PolicyNamesToSkip     []string   `json:"policyNamesToSkip"`
}

func (q *authorizeRequest) Validate() error {
	switch {
	case q.CognitoIdentityPoolID != "":
		return imprint.Errorf(imprint.Invalid, "cognitoIdentityPoolId: Imprint has no Cognito identities; give a certificate as principal")
	case q.Principal == "":
		return imprint.Errorf(imprint.Invalid, "field \"principal\" is required: a certificate ID or ARN")
	case len(q.AuthInfos) < 1 || len(q.AuthInfos) > maxAuthInfos:
		return imprint.Errorf(imprint.Invalid, "authInfos must hold 1 to %d items", maxAuthInfos)
	case len(q.ClientID) > maxAuthClientLength:
		return imprint.Errorf(imprint.Invalid, "clientId must be at most %d bytes", maxAuthClientLength)
	case len(q.PolicyNamesToAdd) > maxAuthPolicyNames || len(q.PolicyNamesToSkip) > maxAuthPolicyNames:
		return imprint.Errorf(imprint.Invalid, "policyNamesToAdd and policyNamesToSkip hold at most %d names each", maxAuthPolicyNames)
	}
	if q.ThingName != "" {
		if err := imprint.ValidateName("thingName", q.ThingName); err != nil {
			return err
		}
	}
	for i, a := range q.AuthInfos {
		if _, ok := authActions[a.ActionType]; !ok {
			return imprint.Errorf(imprint.Invalid, "authInfos[%d].actionType must be CONNECT, PUBLISH, SUBSCRIBE or RECEIVE", i)
		}
		if len(a.Resources) < 1 || len(a.Resources) > maxAuthResources {
			return imprint.Errorf(imprint.Invalid, "authInfos[%d].resources must hold 1 to %d items", i, maxAuthResources)
		}
		for j, res := range a.Resources {
			if res == "" || len(res) > policy.MaxResourceLength {
				return imprint.Errorf(imprint.Invalid, "authInfos[%d].resources[%d] must be 1 to %d bytes", i, j, policy.MaxResourceLength)
			}
		}
	}
	for _, names := range [][]string{q.PolicyNamesToAdd, q.PolicyNamesToSkip} {
		for _, n := range names {
			if err := imprint.ValidatePolicyName(n); err != nil {
				return imprint.Errorf(imprint.Invalid, "policyNamesToAdd and policyNamesToSkip: %s", imprint.ErrorMessage(err))
			}
		}
	}
	return nil
}

type policyRef struct {
	PolicyName string `json:"policyName"`
	PolicyARN  string `json:"policyArn"`
}

type policyRefs struct {
	Policies []policyRef `json:"policies"`
}

type authResult struct {
	AuthInfo authInfo   `json:"authInfo"`
	Allowed  policyRefs `json:"allowed"`
	Denied   struct {
		ImplicitDeny policyRefs `json:"implicitDeny"`
		ExplicitDeny policyRefs `json:"explicitDeny"`
	} `json:"denied"`
	AuthDecision         string   `json:"authDecision"`
	MissingContextValues []string `json:"missingContextValues"`
}

// handleAuthorize: POST /v1/authorize, AWS IoT's TestAuthorization: how the
// policies that apply to a certificate (and its thing's groups) decide each
// action on each resource. Nothing is changed or recorded.
func (s *server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q, err := queryParams(r, "clientId")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, ok := readJSON[authorizeRequest](s, w, r)
	if !ok {
		return
	}
	if req.ClientID == "" {
		req.ClientID = q.Get("clientId")
	}
	results, err := s.authorize(r.Context(), &req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	encode(w, http.StatusOK, struct {
		AuthResults []authResult `json:"authResults"`
	}{results})
}

// principalID returns the certificate ID of a principal: the ID itself, or
// a certificate ARN ("arn:aws:iot:<region>:<account>:cert/<id>").
func principalID(p string) (string, error) {
	if i := strings.LastIndex(p, ":cert/"); strings.HasPrefix(p, "arn:") && i >= 0 {
		p = p[i+len(":cert/"):]
	}
	return normalizeID("principal", p)
}

func (s *server) authorize(ctx context.Context, req *authorizeRequest) ([]authResult, error) {
	certID, err := principalID(req.Principal)
	if err != nil {
		return nil, err
	}
	c, err := s.store.Certificate(ctx, certID)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(c.DER)
	if err != nil {
		return nil, imprint.Errorf(imprint.Invalid, "certificate %s cannot be parsed: %v", certID, err)
	}
	thing, err := s.authorizationThing(ctx, certID, req)
	if err != nil {
		return nil, err
	}
	policies, err := s.authorizationPolicies(ctx, certID, thing, req)
	if err != nil {
		return nil, err
	}
	base := policy.Request{ClientID: req.ClientID, CertificateID: certID, Thing: thing,
		Certificate: policy.CertificateContext(cert)}
	results := make([]authResult, len(req.AuthInfos))
	for i, info := range req.AuthInfos {
		results[i] = explainAll(base, authActions[info.ActionType], info, policies)
	}
	return results, nil
}

// authorizationThing returns the thing the connection speaks for: the one
// named by thingName, else the one the client ID names, else the one thing
// the certificate is attached to; nil if none.
func (s *server) authorizationThing(ctx context.Context, certID string, req *authorizeRequest) (*policy.Thing, error) {
	var (
		t        *imprint.Thing
		attached bool
		err      error
	)
	switch {
	case req.ThingName != "":
		t, attached, err = s.store.AuthorizationThing(ctx, certID, req.ThingName)
	case req.ClientID != "" && imprint.ValidateName("clientId", req.ClientID) == nil:
		t, attached, err = s.store.AuthorizationThing(ctx, certID, req.ClientID)
		if imprint.ErrorKind(err) == imprint.NotFound {
			t, err = nil, nil
		}
	}
	if t == nil && err == nil && req.ThingName == "" {
		t, attached, err = s.store.AuthorizationThing(ctx, certID, "")
	}
	if err != nil || t == nil {
		return nil, err
	}
	return &policy.Thing{Name: t.Name, TypeName: t.TypeName, Attributes: t.Attributes, Attached: attached}, nil
}

// authorizationPolicies returns the compiled default versions of the
// certificate's effective policies and of policyNamesToAdd, without
// policyNamesToSkip.
func (s *server) authorizationPolicies(ctx context.Context, certID string, thing *policy.Thing, req *authorizeRequest) ([]*policy.Policy, error) {
	thingName := ""
	if thing != nil && thing.Attached {
		thingName = thing.Name
	}
	vs, err := s.store.EffectivePolicies(ctx, certID, thingName)
	if err != nil {
		return nil, err
	}
	for _, name := range req.PolicyNamesToAdd {
		if slices.ContainsFunc(vs, func(v imprint.PolicyVersion) bool { return v.PolicyName == name }) {
			continue
		}
		p, err := s.store.Policy(ctx, name)
		var v *imprint.PolicyVersion
		if err == nil {
			v, err = s.store.PolicyVersion(ctx, name, p.DefaultVersion)
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
		p, err := s.compileStored(v)
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
func (s *server) compileStored(v imprint.PolicyVersion) (*policy.Policy, error) {
	key := strconv.Itoa(v.VersionID) + "@" + strconv.FormatInt(v.CreatedAt.UnixMicro(), 10)
	p, err := s.policies.Compile(v.PolicyName, key, v.Document, policy.WithLimits(storedPolicyLimits))
	if err != nil {
		return nil, imprint.Errorf(imprint.Internal, "stored policy %s version %d does not compile: %v", v.PolicyName, v.VersionID, err)
	}
	return p, nil
}

// explainAll decides one authInfo: every resource is explained; the result
// is EXPLICIT_DENY if any resource is denied, IMPLICIT_DENY if any is not
// allowed, and ALLOWED if all are.
func explainAll(base policy.Request, action policy.Action, info authInfo, policies []*policy.Policy) authResult {
	res := authResult{AuthInfo: info, MissingContextValues: []string{}}
	res.Allowed.Policies = []policyRef{}
	res.Denied.ImplicitDeny.Policies = []policyRef{}
	res.Denied.ExplicitDeny.Policies = []policyRef{}
	decision := policy.Allowed
	for _, resource := range info.Resources {
		req := base
		req.Action, req.Resource = action, resource
		e := policy.Explain(&req, policies...)
		res.Allowed.Policies = addRefs(res.Allowed.Policies, e.Allowing)
		res.Denied.ExplicitDeny.Policies = addRefs(res.Denied.ExplicitDeny.Policies, e.Denying)
		switch {
		case e.Result == policy.ExplicitDeny:
			decision = policy.ExplicitDeny
		case e.Result == policy.ImplicitDeny && decision == policy.Allowed:
			decision = policy.ImplicitDeny
		}
		for _, m := range e.Missing {
			if !slices.Contains(res.MissingContextValues, m) {
				res.MissingContextValues = append(res.MissingContextValues, m)
			}
		}
	}
	if decision == policy.ImplicitDeny {
		res.Denied.ImplicitDeny.Policies = addRefs(res.Denied.ImplicitDeny.Policies, policies)
	}
	res.AuthDecision = decision.String()
	return res
}

func addRefs(refs []policyRef, ps []*policy.Policy) []policyRef {
	for _, p := range ps {
		if !slices.ContainsFunc(refs, func(r policyRef) bool { return r.PolicyName == p.Name() }) {
			refs = append(refs, policyRef{PolicyName: p.Name(), PolicyARN: policyARN(p.Name())})
		}
	}
	return refs
}
