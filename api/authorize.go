package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/policy"
	"github.com/imprint-iot/imprint/provisioning"
)

// Limits of an authorization request, AWS IoT's TestAuthorization's where
// it has them.
const (
	maxAuthInfos        = 10
	maxAuthResources    = 100
	maxAuthPolicyNames  = 100
	maxAuthClientLength = 128
)

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

func (q authorizeRequest) Validate() error {
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
		if err := imprint.ThingNameRule.Validate("thingName", q.ThingName); err != nil {
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
	for i, n := range q.PolicyNamesToAdd {
		if err := imprint.PolicyNameRule.Validate(fmt.Sprintf("policyNamesToAdd[%d]", i), n); err != nil {
			return err
		}
	}
	for i, n := range q.PolicyNamesToSkip {
		if err := imprint.PolicyNameRule.Validate(fmt.Sprintf("policyNamesToSkip[%d]", i), n); err != nil {
			return err
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
func (s *server) handleAuthorize(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "clientId")
	if err != nil {
		return err
	}
	req, err := readJSON[authorizeRequest](w, r)
	if err != nil {
		return err
	}
	if req.ClientID == "" {
		req.ClientID = q.Get("clientId")
	}
	results, err := s.authorize(r, &req)
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, struct {
		AuthResults []authResult `json:"authResults"`
	}{results})
	return nil
}

// principalID returns the certificate ID of a principal: the ID itself, or
// a certificate ARN ("arn:aws:iot:<region>:<account>:cert/<id>").
func principalID(p string) (string, error) {
	if i := strings.LastIndex(p, ":cert/"); strings.HasPrefix(p, "arn:") && i >= 0 {
		p = p[i+len(":cert/"):]
	}
	return NormalizeID("principal", p)
}

func (s *server) authorize(r *http.Request, req *authorizeRequest) ([]authResult, error) {
	certID, err := principalID(req.Principal)
	if err != nil {
		return nil, err
	}
	q := provisioning.AuthorizeRequest{CertificateID: certID, ClientID: req.ClientID, ThingName: req.ThingName,
		Checks:           make([]provisioning.Check, len(req.AuthInfos)),
		PolicyNamesToAdd: req.PolicyNamesToAdd, PolicyNamesToSkip: req.PolicyNamesToSkip}
	for i, info := range req.AuthInfos {
		q.Checks[i] = provisioning.Check{Action: authActions[info.ActionType], Resources: info.Resources}
	}
	decisions, err := s.engine.Authorize(r.Context(), q)
	if err != nil {
		return nil, err
	}
	results := make([]authResult, len(decisions))
	for i, d := range decisions {
		res := authResult{AuthInfo: req.AuthInfos[i], AuthDecision: d.Result.String(), MissingContextValues: d.Missing}
		res.Allowed.Policies = policyRefsOf(d.Allowing)
		res.Denied.ExplicitDeny.Policies = policyRefsOf(d.Denying)
		res.Denied.ImplicitDeny.Policies = policyRefsOf(d.ImplicitDeny)
		results[i] = res
	}
	return results, nil
}

func policyRefsOf(names []string) []policyRef {
	refs := make([]policyRef, len(names))
	for i, n := range names {
		refs[i] = policyRef{PolicyName: n, PolicyARN: policyARN(n)}
	}
	return refs
}
