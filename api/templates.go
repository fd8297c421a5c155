package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/provisioning"
)

// TemplateStore reads and deletes provisioning templates and their
// versions; the engine creates and changes them.
type TemplateStore interface {
	Template(ctx context.Context, name string) (*imprint.ProvisioningTemplate, error)
	Templates(ctx context.Context, after string, limit int) ([]*imprint.ProvisioningTemplate, string, error)
	DeleteTemplate(ctx context.Context, name string, actor imprint.Actor) error
	TemplateVersions(ctx context.Context, name string) ([]imprint.TemplateVersion, error)
	TemplateVersion(ctx context.Context, name string, id int) (*imprint.TemplateVersion, error)
	DeleteTemplateVersion(ctx context.Context, name string, id int, actor imprint.Actor) error
}

type hookJSON struct {
	URL       string `json:"url"`
	Secret    string `json:"secret,omitempty"` // in requests only
	TimeoutMs int    `json:"timeoutMs,omitempty"`
}

// hookOf is the hook a request gives; nil for none.
func hookOf(h *hookJSON) *provisioning.Hook {
	if h == nil {
		return nil
	}
	return &provisioning.Hook{URL: h.URL, Secret: h.Secret, TimeoutMs: h.TimeoutMs}
}

type templateRequest struct {
	Name        string               `json:"name"`
	Description string               `json:"description"`
	Type        imprint.TemplateType `json:"type"`
	Body        string               `json:"body"`
	Enabled     *bool                `json:"enabled"`
	Hook        *hookJSON            `json:"preProvisioningHook"`
}

// validateDescription checks the description of a template, a thing type
// or a thing group: see imprint.ValidateDescription.
func validateDescription(d string) error { return imprint.ValidateDescription("description", d) }

// printable reports whether s is text fit for a name or a description:
// see imprint.SafeText.
func printable(s string) bool { return imprint.SafeText(s) }

func (q templateRequest) Validate() error {
	if err := imprint.ValidateTemplateName("name", q.Name); err != nil {
		return err
	}
	if err := imprint.ValidateTemplateType("type", q.Type); err != nil {
		return err
	}
	if q.Body == "" {
		return imprint.Errorf(imprint.Invalid, "field \"body\" is required")
	}
	return validateDescription(q.Description)
}

type templateJSON struct {
	Name             string               `json:"name"`
	Description      string               `json:"description"`
	Type             imprint.TemplateType `json:"type"`
	Enabled          bool                 `json:"enabled"`
	DefaultVersionID int                  `json:"defaultVersionId"`
	Hook             *hookJSON            `json:"preProvisioningHook,omitempty"`
	Body             string               `json:"body,omitempty"`
	CreatedAt        time.Time            `json:"createdAt"`
	UpdatedAt        time.Time            `json:"updatedAt"`
}

func templateOf(t *imprint.ProvisioningTemplate, withBody bool) templateJSON {
	j := templateJSON{Name: t.Name, Description: t.Description, Type: t.Type, Enabled: t.Enabled,
		DefaultVersionID: t.DefaultVersion, CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC()}
	if t.Hook != nil {
		j.Hook = &hookJSON{URL: t.Hook.URL, TimeoutMs: t.Hook.TimeoutMs}
	}
	if withBody {
		j.Body = t.Body
	}
	return j
}

// handleCreateTemplate: POST /v1/provisioning-templates. The body is parsed
// and validated now, not when a device connects; every fault is reported.
func (s *server) handleCreateTemplate(w http.ResponseWriter, r *http.Request) error {
	req, err := readJSON[templateRequest](w, r)
	if err != nil {
		return err
	}
	t := &imprint.ProvisioningTemplate{Name: req.Name, Description: req.Description, Type: req.Type,
		Enabled: req.Enabled == nil || *req.Enabled, Body: req.Body}
	if err := s.engine.CreateTemplate(r.Context(), imprint.ActorFromContext(r.Context()), t, hookOf(req.Hook)); err != nil {
		return err
	}
	encode(w, http.StatusCreated, templateOf(t, true))
	return nil
}

// templateName returns r's route parameter name as a template name; see
// nameParam.
func templateName(r *http.Request) (string, error) {
	return nameParam(r, "name", func(name string) error { return imprint.ValidateTemplateName("", name) })
}

// handleGetTemplate: GET /v1/provisioning-templates/{name}, with the default body.
func (s *server) handleGetTemplate(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	name, err := templateName(r)
	var t *imprint.ProvisioningTemplate
	if err == nil {
		t, err = s.templates.Template(r.Context(), name)
	}
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, templateOf(t, true))
	return nil
}

// handleListTemplates: GET /v1/provisioning-templates?limit=&cursor=.
func (s *server) handleListTemplates(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "limit", "cursor")
	var after string
	if err == nil {
		after, err = nameCursor(q, "provisioning-templates", func(n string) error { return imprint.ValidateTemplateName("cursor", n) })
	}
	var limit int
	if err == nil {
		limit, err = limitParam(q)
	}
	if err != nil {
		return err
	}
	ts, next, err := s.templates.Templates(r.Context(), after, limit)
	if err != nil {
		return err
	}
	out := struct {
		Templates  []templateJSON `json:"templates"`
		NextCursor string         `json:"nextCursor,omitempty"`
	}{Templates: make([]templateJSON, len(ts)), NextCursor: nameCursorOf("provisioning-templates", next)}
	for i, t := range ts {
		out.Templates[i] = templateOf(t, false)
	}
	encode(w, http.StatusOK, out)
	return nil
}

type templatePatch struct {
	Description      *string              `json:"description"`
	Enabled          *bool                `json:"enabled"`
	Hook             optional[hookJSON]   `json:"preProvisioningHook"`
	DefaultVersionID *int                 `json:"defaultVersionId"`
	Type             imprint.TemplateType `json:"type"`
}

// optional tells a JSON field left out from one set to null.
type optional[T any] struct {
	Set   bool
	Value *T
}

func (o *optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		return nil
	}
	o.Value = new(T)
	return jsonUnmarshalStrict(b, o.Value)
}

// handlePatchTemplate: PATCH /v1/provisioning-templates/{name}: description,
// enabled, hook (null removes it), default version. The type is fixed.
func (s *server) handlePatchTemplate(w http.ResponseWriter, r *http.Request) error {
	name, err := templateName(r)
	if err != nil {
		return err
	}
	req, err := readJSON[templatePatch](w, r)
	if err != nil {
		return err
	}
	var u imprint.TemplateUpdate
	switch {
	case req.Description == nil && req.Enabled == nil && !req.Hook.Set && req.DefaultVersionID == nil && req.Type == "":
		err = imprint.Errorf(imprint.Invalid, "nothing to change: give description, enabled, preProvisioningHook or defaultVersionId")
	case req.Type != "":
		err = imprint.Errorf(imprint.Invalid, "a template's type is fixed at creation")
	case req.Description != nil:
		err = validateDescription(*req.Description)
	}
	if err != nil {
		return err
	}
	var hook **provisioning.Hook
	if req.Hook.Set {
		h := hookOf(req.Hook.Value)
		hook = &h
	}
	u.Description, u.Enabled, u.DefaultVersion = req.Description, req.Enabled, req.DefaultVersionID
	t, err := s.engine.UpdateTemplate(r.Context(), imprint.ActorFromContext(r.Context()), name, u, hook)
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, templateOf(t, true))
	return nil
}

// handleDeleteTemplate: DELETE /v1/provisioning-templates/{name}; 409 while
// a CA provisions with it.
func (s *server) handleDeleteTemplate(w http.ResponseWriter, r *http.Request) error {
	name, err := templateName(r)
	if err == nil {
		err = s.templates.DeleteTemplate(r.Context(), name, imprint.ActorFromContext(r.Context()))
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type versionRequest struct {
	Body string `json:"body"`
}

type versionJSON struct {
	VersionID int       `json:"versionId"`
	IsDefault bool      `json:"isDefault"`
	Body      string    `json:"body,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

func versionOf(v *imprint.TemplateVersion, withBody bool) versionJSON {
	j := versionJSON{VersionID: v.VersionID, IsDefault: v.IsDefault, CreatedAt: v.CreatedAt.UTC()}
	if withBody {
		j.Body = v.Body
	}
	return j
}

// handleCreateVersion: POST /v1/provisioning-templates/{name}/versions?setAsDefault=true.
func (s *server) handleCreateVersion(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "setAsDefault")
	var setDefault bool
	if err == nil {
		setDefault, err = boolParam(q, "setAsDefault")
	}
	var name string
	if err == nil {
		name, err = templateName(r)
	}
	if err == nil {
		_, err = s.templates.Template(r.Context(), name) // a template that is not there answers 404 before its body is read
	}
	if err != nil {
		return err
	}
	req, err := readJSON[versionRequest](w, r)
	if err != nil {
		return err
	}
	v, err := s.engine.CreateTemplateVersion(r.Context(), imprint.ActorFromContext(r.Context()), name, req.Body, setDefault)
	if err != nil {
		return err
	}
	encode(w, http.StatusCreated, versionOf(v, true))
	return nil
}

// boolParam reads the query parameter name as true or false (false when
// absent).
func boolParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, imprint.Errorf(imprint.Invalid, "%s must be true or false", name)
	}
	return b, nil
}

// handleListVersions: GET /v1/provisioning-templates/{name}/versions.
func (s *server) handleListVersions(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	name, err := templateName(r)
	var vs []imprint.TemplateVersion
	if err == nil {
		vs, err = s.templates.TemplateVersions(r.Context(), name)
	}
	if err != nil {
		return err
	}
	out := struct {
		Versions []versionJSON `json:"versions"`
	}{Versions: make([]versionJSON, len(vs))}
	for i := range vs {
		out.Versions[i] = versionOf(&vs[i], false)
	}
	encode(w, http.StatusOK, out)
	return nil
}

func versionParam(r *http.Request) (string, int, error) {
	return namedVersion(r, templateName, "provisioning template")
}

// namedVersion reads the {name} and {version} of a versioned document's
// route: a template's or a policy's. A malformed version is NotFound.
func namedVersion(r *http.Request, nameOf func(*http.Request) (string, error), what string) (string, int, error) {
	name, err := nameOf(r)
	if err != nil {
		return "", 0, err
	}
	v, err := PathParam(r, "version")
	if err != nil {
		return "", 0, err
	}
	id, err := strconv.Atoi(v)
	if err != nil || id < 1 {
		return "", 0, imprint.Errorf(imprint.NotFound, "%s %s has no version %q", what, name, v)
	}
	return name, id, nil
}

// handleGetVersion: GET /v1/provisioning-templates/{name}/versions/{version}.
func (s *server) handleGetVersion(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	name, id, err := versionParam(r)
	var v *imprint.TemplateVersion
	if err == nil {
		v, err = s.templates.TemplateVersion(r.Context(), name, id)
	}
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, versionOf(v, true))
	return nil
}

// handleDeleteVersion: DELETE …/versions/{version}; not the default (409).
func (s *server) handleDeleteVersion(w http.ResponseWriter, r *http.Request) error {
	name, id, err := versionParam(r)
	if err == nil {
		err = s.templates.DeleteTemplateVersion(r.Context(), name, id, imprint.ActorFromContext(r.Context()))
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type previewRequest struct {
	Parameters     map[string]string `json:"parameters"`
	CertificatePEM string            `json:"certificatePem"`
	VersionID      int               `json:"versionId"`
}

// handlePreview: POST /v1/provisioning-templates/{name}:preview evaluates a
// version (the default unless named) against the given parameters and, for
// JITP, a certificate's derived parameters, and returns the plan. Nothing is
// applied.
func (s *server) handlePreview(w http.ResponseWriter, r *http.Request) error {
	name, err := templateName(r)
	if err == nil {
		_, err = s.templates.Template(r.Context(), name) // a template that is not there answers 404 before its body is read
	}
	if err != nil {
		return err
	}
	req, err := readJSON[previewRequest](w, r)
	if err != nil {
		return err
	}
	plan, err := s.engine.PreviewTemplate(r.Context(), provisioning.PreviewRequest{Name: name, VersionID: req.VersionID,
		Parameters: req.Parameters, CertificatePEM: req.CertificatePEM})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, plan)
	return nil
}
