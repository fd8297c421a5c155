package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/policy"
)

// PolicyStore keeps IoT policies, their versions and attachments.
type PolicyStore interface {
	CreatePolicy(ctx context.Context, name, document string, actor imprint.Actor) (*imprint.PolicyRecord, error)
	Policy(ctx context.Context, name string) (*imprint.PolicyRecord, error)
	Policies(ctx context.Context, after string, limit int) ([]*imprint.PolicyRecord, string, error)
	DeletePolicy(ctx context.Context, name string, actor imprint.Actor) error
	CreatePolicyVersion(ctx context.Context, name, document string, setDefault bool, maxVersions int, actor imprint.Actor) (*imprint.PolicyVersion, error)
	PolicyVersions(ctx context.Context, name string) ([]imprint.PolicyVersion, error)
	PolicyVersion(ctx context.Context, name string, id int) (*imprint.PolicyVersion, error)
	DeletePolicyVersion(ctx context.Context, name string, id int, actor imprint.Actor) error
	SetDefaultPolicyVersion(ctx context.Context, name string, id int, actor imprint.Actor) (*imprint.PolicyRecord, error)
	AttachPolicy(ctx context.Context, name, targetType, targetID string, actor imprint.Actor) error
	DetachPolicy(ctx context.Context, name, targetType, targetID string, actor imprint.Actor) error
	PolicyTargets(ctx context.Context, name string) ([]imprint.PolicyTarget, error)
	TargetPolicies(ctx context.Context, targetType, targetID string) ([]imprint.PolicyTarget, error)
	EffectivePolicies(ctx context.Context, certificateID, thingName string) ([]imprint.PolicyVersion, error)
}

// policyDocument is a policy document in a request: a JSON string holding
// the document, as AWS IoT takes it, or the document's JSON object itself.
type policyDocument string

func (d *policyDocument) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*d = policyDocument(s)
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return imprint.Errorf(imprint.Invalid, "policyDocument must be a string or a JSON object")
	}
	*d = policyDocument(b)
	return nil
}

// checkDocument compiles a document under the server's limits, so that every
// problem in it is reported before it is stored. A document over a size
// limit is Invalid (400) like any other fault, with its problem listed.
func (s *server) checkDocument(document string) error {
	if document == "" {
		return imprint.Errorf(imprint.Invalid, "field \"policyDocument\" is required")
	}
	_, err := policy.Compile("", document, policy.WithLimits(s.policyLimits))
	if err != nil && imprint.ErrorKind(err) == imprint.TooLarge {
		return &imprint.Error{Kind: imprint.Invalid, Message: imprint.ErrorMessage(err), Err: err}
	}
	return err
}

type createPolicyRequest struct {
	PolicyName     string         `json:"policyName"`
	PolicyDocument policyDocument `json:"policyDocument"`
}

func (q createPolicyRequest) Validate() error {
	return imprint.PolicyNameRule.Validate("policyName", q.PolicyName)
}

type policyJSON struct {
	PolicyName       string    `json:"policyName"`
	PolicyARN        string    `json:"policyArn"`
	DefaultVersionID int       `json:"defaultVersionId"`
	PolicyDocument   string    `json:"policyDocument,omitempty"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
}

// policyARN is the policy's ARN, in the installation's account.
func policyARN(name string) string { return policy.DefaultAccount.PolicyARN(name) }

func policyOf(p *imprint.PolicyRecord, withDocument bool) policyJSON {
	j := policyJSON{PolicyName: p.Name, PolicyARN: policyARN(p.Name), DefaultVersionID: p.DefaultVersion,
		CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC()}
	if withDocument {
		j.PolicyDocument = p.Document
	}
	return j
}

// handleCreatePolicy: POST /v1/policies. The document is compiled now, and
// every problem in it reported.
func (s *server) handleCreatePolicy(w http.ResponseWriter, r *http.Request) error {
	req, err := readJSON[createPolicyRequest](w, r)
	if err != nil {
		return err
	}
	var p *imprint.PolicyRecord
	err = s.checkDocument(string(req.PolicyDocument))
	if err == nil {
		p, err = s.policies.CreatePolicy(r.Context(), req.PolicyName, string(req.PolicyDocument), imprint.ActorFromContext(r.Context()))
	}
	if err != nil {
		return err
	}
	encode(w, http.StatusCreated, policyOf(p, true))
	return nil
}

// policyName returns r's route parameter name as a policy name; see
// nameParam.
func policyName(r *http.Request) (string, error) {
	return nameParam(r, "name", imprint.ValidatePolicyName)
}

// handleGetPolicy: GET /v1/policies/{name}, with the default document.
func (s *server) handleGetPolicy(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	name, err := policyName(r)
	var p *imprint.PolicyRecord
	if err == nil {
		p, err = s.policies.Policy(r.Context(), name)
	}
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, policyOf(p, true))
	return nil
}

// handleListPolicies: GET /v1/policies?limit=&cursor=.
func (s *server) handleListPolicies(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "limit", "cursor")
	var after string
	if err == nil {
		after, err = nameCursor(q, "policies", imprint.ValidatePolicyName)
	}
	var limit int
	if err == nil {
		limit, err = limitParam(q)
	}
	if err != nil {
		return err
	}
	ps, next, err := s.policies.Policies(r.Context(), after, limit)
	if err != nil {
		return err
	}
	out := struct {
		Policies   []policyJSON `json:"policies"`
		NextCursor string       `json:"nextCursor,omitempty"`
	}{Policies: make([]policyJSON, len(ps)), NextCursor: nameCursorOf("policies", next)}
	for i, p := range ps {
		out.Policies[i] = policyOf(p, false)
	}
	encode(w, http.StatusOK, out)
	return nil
}

// handleDeletePolicy: DELETE /v1/policies/{name}; 409 while attached.
func (s *server) handleDeletePolicy(w http.ResponseWriter, r *http.Request) error {
	name, err := policyName(r)
	if err == nil {
		err = s.policies.DeletePolicy(r.Context(), name, imprint.ActorFromContext(r.Context()))
	}
	if err != nil {
		return err
	}
	s.engine.PolicyChanged(name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type setDefaultRequest struct {
	DefaultVersionID int `json:"defaultVersionId"`
}

func (q setDefaultRequest) Validate() error {
	if q.DefaultVersionID < 1 {
		return imprint.Errorf(imprint.Invalid, "defaultVersionId must be a version ID, from 1")
	}
	return nil
}

// handleSetDefaultPolicyVersion: PATCH /v1/policies/{name} {defaultVersionId}.
func (s *server) handleSetDefaultPolicyVersion(w http.ResponseWriter, r *http.Request) error {
	name, err := policyName(r)
	if err != nil {
		return err
	}
	req, err := readJSON[setDefaultRequest](w, r)
	if err != nil {
		return err
	}
	p, err := s.policies.SetDefaultPolicyVersion(r.Context(), name, req.DefaultVersionID, imprint.ActorFromContext(r.Context()))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, policyOf(p, true))
	return nil
}

type policyVersionRequest struct {
	PolicyDocument policyDocument `json:"policyDocument"`
}

type policyVersionJSON struct {
	PolicyName     string    `json:"policyName"`
	VersionID      int       `json:"versionId"`
	IsDefault      bool      `json:"isDefaultVersion"`
	PolicyDocument string    `json:"policyDocument,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
}

func policyVersionOf(v *imprint.PolicyVersion, withDocument bool) policyVersionJSON {
	j := policyVersionJSON{PolicyName: v.PolicyName, VersionID: v.VersionID, IsDefault: v.IsDefault, CreatedAt: v.CreatedAt.UTC()}
	if withDocument {
		j.PolicyDocument = v.Document
	}
	return j
}

// handleCreatePolicyVersion: POST /v1/policies/{name}/versions?setAsDefault=true.
func (s *server) handleCreatePolicyVersion(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "setAsDefault")
	var setDefault bool
	if err == nil {
		setDefault, err = boolParam(q, "setAsDefault")
	}
	var name string
	if err == nil {
		name, err = policyName(r)
	}
	if err != nil {
		return err
	}
	req, err := readJSON[policyVersionRequest](w, r)
	if err != nil {
		return err
	}
	var v *imprint.PolicyVersion
	err = s.checkDocument(string(req.PolicyDocument))
	if err == nil {
		v, err = s.policies.CreatePolicyVersion(r.Context(), name, string(req.PolicyDocument), setDefault,
			imprint.DefaultPolicyVersion, imprint.ActorFromContext(r.Context()))
	}
	if err != nil {
		return err
	}
	encode(w, http.StatusCreated, policyVersionOf(v, true))
	return nil
}

// handleListPolicyVersions: GET /v1/policies/{name}/versions.
func (s *server) handleListPolicyVersions(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	name, err := policyName(r)
	var vs []imprint.PolicyVersion
	if err == nil {
		vs, err = s.policies.PolicyVersions(r.Context(), name)
	}
	if err != nil {
		return err
	}
	out := struct {
		Versions []policyVersionJSON `json:"versions"`
	}{Versions: make([]policyVersionJSON, len(vs))}
	for i := range vs {
		out.Versions[i] = policyVersionOf(&vs[i], false)
	}
	encode(w, http.StatusOK, out)
	return nil
}

func policyVersionParam(r *http.Request) (string, int, error) {
	return namedVersion(r, policyName, "policy")
}

// handleGetPolicyVersion: GET /v1/policies/{name}/versions/{version}.
func (s *server) handleGetPolicyVersion(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	name, id, err := policyVersionParam(r)
	var v *imprint.PolicyVersion
	if err == nil {
		v, err = s.policies.PolicyVersion(r.Context(), name, id)
	}
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, policyVersionOf(v, true))
	return nil
}

// handleDeletePolicyVersion: DELETE /v1/policies/{name}/versions/{version};
// not the default (409).
func (s *server) handleDeletePolicyVersion(w http.ResponseWriter, r *http.Request) error {
	name, id, err := policyVersionParam(r)
	if err == nil {
		err = s.policies.DeletePolicyVersion(r.Context(), name, id, imprint.ActorFromContext(r.Context()))
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// targetParams returns the policy and target of an attachment route. A
// malformed target ID is Invalid (400), as in every other route.
func targetParams(r *http.Request, targetType string) (name, id string, err error) {
	if name, err = policyName(r); err != nil {
		return "", "", err
	}
	raw, err := PathParam(r, "id")
	if err != nil {
		return "", "", err
	}
	id = raw
	if targetType == imprint.TargetCertificate {
		if id, err = NormalizeID("certificate ID", raw); err != nil {
			return "", "", err
		}
	} else if err := imprint.ThingGroupNameRule.Validate("thing group name", id); err != nil {
		return "", "", err
	}
	return name, id, nil
}

// handleAttachPolicy: PUT /v1/policies/{name}/targets/{type}/{id}; attaching
// again succeeds and changes nothing.
func (s *server) handleAttachPolicy(targetType string) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		name, id, err := targetParams(r, targetType)
		if err == nil {
			err = s.policies.AttachPolicy(r.Context(), name, targetType, id, imprint.ActorFromContext(r.Context()))
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// handleDetachPolicy: DELETE /v1/policies/{name}/targets/{type}/{id}; 404 if
// not attached.
func (s *server) handleDetachPolicy(targetType string) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		name, id, err := targetParams(r, targetType)
		if err == nil {
			err = s.policies.DetachPolicy(r.Context(), name, targetType, id, imprint.ActorFromContext(r.Context()))
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

type targetJSON struct {
	TargetType string    `json:"targetType"`
	TargetID   string    `json:"targetId"`
	AttachedAt time.Time `json:"attachedAt"`
}

// handleListPolicyTargets: GET /v1/policies/{name}/targets.
func (s *server) handleListPolicyTargets(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	name, err := policyName(r)
	var ts []imprint.PolicyTarget
	if err == nil {
		ts, err = s.policies.PolicyTargets(r.Context(), name)
	}
	if err != nil {
		return err
	}
	out := struct {
		Targets []targetJSON `json:"targets"`
	}{Targets: make([]targetJSON, len(ts))}
	for i, t := range ts {
		out.Targets[i] = targetJSON{TargetType: t.Type, TargetID: t.ID, AttachedAt: t.CreatedAt.UTC()}
	}
	encode(w, http.StatusOK, out)
	return nil
}

func certificateParam(r *http.Request) (string, error) {
	raw, err := PathParam(r, "id")
	if err != nil {
		return "", err
	}
	id, err := NormalizeID("certificate ID", raw)
	if err != nil {
		return "", imprint.Errorf(imprint.NotFound, "certificate %q not found", raw)
	}
	return id, nil
}

// handleCertificatePolicies: GET /v1/certificates/{id}/policies, the policies
// attached to the certificate itself.
func (s *server) handleCertificatePolicies(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	id, err := certificateParam(r)
	var ts []imprint.PolicyTarget
	if err == nil {
		ts, err = s.policies.TargetPolicies(r.Context(), imprint.TargetCertificate, id)
	}
	if err != nil {
		return err
	}
	type attached struct {
		PolicyName string    `json:"policyName"`
		PolicyARN  string    `json:"policyArn"`
		AttachedAt time.Time `json:"attachedAt"`
	}
	out := struct {
		Policies []attached `json:"policies"`
	}{Policies: make([]attached, len(ts))}
	for i, t := range ts {
		out.Policies[i] = attached{PolicyName: t.PolicyName, PolicyARN: policyARN(t.PolicyName), AttachedAt: t.CreatedAt.UTC()}
	}
	encode(w, http.StatusOK, out)
	return nil
}

// handleEffectivePolicies: GET /v1/certificates/{id}/effective-policies?thingName=,
// the default versions of the policies attached to the certificate and, if
// it is attached to the thing, to the thing's groups and their ancestors.
func (s *server) handleEffectivePolicies(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "thingName")
	thing := q.Get("thingName")
	var id string
	if err == nil {
		id, err = certificateParam(r)
	}
	if err == nil && thing != "" {
		err = imprint.ThingNameRule.Validate("thingName", thing)
	}
	var vs []imprint.PolicyVersion
	if err == nil {
		vs, err = s.policies.EffectivePolicies(r.Context(), id, thing)
	}
	if err != nil {
		return err
	}
	type effective struct {
		PolicyName     string `json:"policyName"`
		PolicyARN      string `json:"policyArn"`
		VersionID      int    `json:"versionId"`
		PolicyDocument string `json:"policyDocument"`
	}
	out := struct {
		EffectivePolicies []effective `json:"effectivePolicies"`
	}{EffectivePolicies: make([]effective, len(vs))}
	for i, v := range vs {
		out.EffectivePolicies[i] = effective{PolicyName: v.PolicyName, PolicyARN: policyARN(v.PolicyName),
			VersionID: v.VersionID, PolicyDocument: v.Document}
	}
	encode(w, http.StatusOK, out)
	return nil
}
