package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/imprint-iot/imprint"
)

// RegistryStore keeps things, thing types, thing groups and principals.
type RegistryStore interface {
	CreateThingType(ctx context.Context, t *imprint.ThingType, actor imprint.Actor) error
	ThingType(ctx context.Context, name string) (*imprint.ThingType, error)
	ThingTypes(ctx context.Context) ([]*imprint.ThingType, error)
	DeprecateThingType(ctx context.Context, name string, deprecated bool, actor imprint.Actor) (*imprint.ThingType, error)
	DeleteThingType(ctx context.Context, name string, actor imprint.Actor) error
	CreateThing(ctx context.Context, t *imprint.Thing, actor imprint.Actor) error
	Thing(ctx context.Context, name string) (*imprint.Thing, error)
	Things(ctx context.Context, f imprint.ThingFilter) ([]*imprint.Thing, string, error)
	UpdateThing(ctx context.Context, name string, u imprint.ThingUpdate, actor imprint.Actor) (*imprint.Thing, error)
	DeleteThing(ctx context.Context, name string, detach bool, expectedVersion int64, actor imprint.Actor) error
	CreateThingGroup(ctx context.Context, g *imprint.ThingGroup, actor imprint.Actor) error
	ThingGroup(ctx context.Context, name string) (*imprint.ThingGroup, error)
	ThingGroups(ctx context.Context, thing string) ([]*imprint.ThingGroup, error)
	DeleteThingGroup(ctx context.Context, name string, actor imprint.Actor) error
	AddThingToGroup(ctx context.Context, group, thing string, actor imprint.Actor) error
	RemoveThingFromGroup(ctx context.Context, group, thing string, actor imprint.Actor) error
	AttachPrincipal(ctx context.Context, thing, certificateID string, exclusive bool, actor imprint.Actor) error
	DetachPrincipal(ctx context.Context, thing, certificateID string, actor imprint.Actor) error
	Principals(ctx context.Context, thing, certificateID string) ([]imprint.Principal, error)
}

// registryName returns r's route parameter param as a thing, thing type or
// thing group name (what); see nameParam.
func registryName(r *http.Request, param, what string) (string, error) {
	return nameParam(r, param, func(name string) error { return imprint.ValidateName(what, name) })
}

type thingTypeJSON struct {
	ThingTypeName string     `json:"thingTypeName"`
	Description   string     `json:"description,omitempty"`
	Deprecated    bool       `json:"deprecated"`
	DeprecatedAt  *time.Time `json:"deprecatedAt,omitempty"`
	CreatedAt     time.Time  `json:"createdAt"`
}

func thingTypeOf(t *imprint.ThingType) thingTypeJSON {
	j := thingTypeJSON{ThingTypeName: t.Name, Description: t.Description, Deprecated: t.Deprecated, CreatedAt: t.CreatedAt.UTC()}
	if t.Deprecated {
		at := t.DeprecatedAt.UTC()
		j.DeprecatedAt = &at
	}
	return j
}

type thingTypeRequest struct {
	ThingTypeName string `json:"thingTypeName"`
	Description   string `json:"description"`
}

func (q thingTypeRequest) Validate() error {
	if err := imprint.ThingTypeNameRule.Validate("thingTypeName", q.ThingTypeName); err != nil {
		return err
	}
	return validateDescription(q.Description)
}

// handleCreateThingType: POST /v1/thing-types.
func (s *server) handleCreateThingType(w http.ResponseWriter, r *http.Request) error {
	req, err := readJSON[thingTypeRequest](w, r)
	if err != nil {
		return err
	}
	t := &imprint.ThingType{Name: req.ThingTypeName, Description: req.Description}
	if err := s.registry.CreateThingType(r.Context(), t, imprint.ActorFromContext(r.Context())); err != nil {
		return err
	}
	encode(w, http.StatusCreated, thingTypeOf(t))
	return nil
}

// handleListThingTypes: GET /v1/thing-types.
func (s *server) handleListThingTypes(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	ts, err := s.registry.ThingTypes(r.Context())
	if err != nil {
		return err
	}
	out := struct {
		ThingTypes []thingTypeJSON `json:"thingTypes"`
	}{ThingTypes: make([]thingTypeJSON, len(ts))}
	for i, t := range ts {
		out.ThingTypes[i] = thingTypeOf(t)
	}
	encode(w, http.StatusOK, out)
	return nil
}

// handleGetThingType: GET /v1/thing-types/{name}.
func (s *server) handleGetThingType(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	name, err := registryName(r, "name", "thing type")
	var t *imprint.ThingType
	if err == nil {
		t, err = s.registry.ThingType(r.Context(), name)
	}
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, thingTypeOf(t))
	return nil
}

// handleDeprecateThingType: PATCH /v1/thing-types/{name}, {deprecated}.
func (s *server) handleDeprecateThingType(w http.ResponseWriter, r *http.Request) error {
	name, err := registryName(r, "name", "thing type")
	if err != nil {
		return err
	}
	req, err := readJSON[struct {
		Deprecated *bool `json:"deprecated"`
	}](w, r)
	if err != nil {
		return err
	}
	if req.Deprecated == nil {
		return imprint.Errorf(imprint.Invalid, "field \"deprecated\" is required")
	}
	t, err := s.registry.DeprecateThingType(r.Context(), name, *req.Deprecated, imprint.ActorFromContext(r.Context()))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, thingTypeOf(t))
	return nil
}

// handleDeleteThingType: DELETE /v1/thing-types/{name}; deprecated and unused only.
func (s *server) handleDeleteThingType(w http.ResponseWriter, r *http.Request) error {
	name, err := registryName(r, "name", "thing type")
	if err == nil {
		err = s.registry.DeleteThingType(r.Context(), name, imprint.ActorFromContext(r.Context()))
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type thingJSON struct {
	ThingName     string            `json:"thingName"`
	ThingTypeName string            `json:"thingTypeName,omitempty"`
	Attributes    map[string]string `json:"attributes"`
	Version       int64             `json:"version"`
	ThingGroups   []string          `json:"thingGroups,omitempty"`
	CreatedAt     time.Time         `json:"createdAt"`
	UpdatedAt     time.Time         `json:"updatedAt"`
}

func thingOf(t *imprint.Thing) thingJSON {
	attrs := t.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	return thingJSON{ThingName: t.Name, ThingTypeName: t.TypeName, Attributes: attrs, Version: t.Version,
		CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC()}
}

type thingRequest struct {
	ThingName     string            `json:"thingName"`
	ThingTypeName string            `json:"thingTypeName"`
	Attributes    map[string]string `json:"attributes"`
}

func (q thingRequest) Validate() error {
	if err := imprint.ThingNameRule.Validate("thingName", q.ThingName); err != nil {
		return err
	}
	if q.ThingTypeName != "" {
		if err := imprint.ThingTypeNameRule.Validate("thingTypeName", q.ThingTypeName); err != nil {
			return err
		}
	}
	return imprint.ValidateAttributes(q.Attributes)
}

// handleCreateThing: POST /v1/things.
func (s *server) handleCreateThing(w http.ResponseWriter, r *http.Request) error {
	req, err := readJSON[thingRequest](w, r)
	if err != nil {
		return err
	}
	t := &imprint.Thing{Name: req.ThingName, TypeName: req.ThingTypeName, Attributes: req.Attributes}
	if err := s.registry.CreateThing(r.Context(), t, imprint.ActorFromContext(r.Context())); err != nil {
		return err
	}
	encode(w, http.StatusCreated, thingOf(t))
	return nil
}

// handleGetThing: GET /v1/things/{name}, with its groups.
func (s *server) handleGetThing(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	name, err := registryName(r, "name", "thing")
	var t *imprint.Thing
	var groups []*imprint.ThingGroup
	if err == nil {
		t, err = s.registry.Thing(r.Context(), name)
	}
	if err == nil {
		groups, err = s.registry.ThingGroups(r.Context(), name)
	}
	if err != nil {
		return err
	}
	j := thingOf(t)
	for _, g := range groups {
		j.ThingGroups = append(j.ThingGroups, g.Name)
	}
	encode(w, http.StatusOK, j)
	return nil
}

// handleListThings: GET /v1/things, filtered by type, group, attribute and
// name prefix, paged by name.
func (s *server) handleListThings(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "thingTypeName", "thingGroupName", "attributeName", "attributeValue", "namePrefix", "limit", "cursor")
	if err != nil {
		return err
	}
	f := imprint.ThingFilter{TypeName: q.Get("thingTypeName"), GroupName: q.Get("thingGroupName"),
		AttributeName: q.Get("attributeName"), AttributeValue: q.Get("attributeValue"), NamePrefix: q.Get("namePrefix")}
	if f.AttributeValue != "" && f.AttributeName == "" {
		err = imprint.Errorf(imprint.Invalid, "attributeValue needs attributeName")
	}
	if err == nil {
		f.After, err = nameCursor(q, "things", func(n string) error { return imprint.ThingNameRule.Validate("cursor", n) })
	}
	if err == nil {
		f.Limit, err = limitParam(q)
	}
	if err != nil {
		return err
	}
	things, next, err := s.registry.Things(r.Context(), f)
	if err != nil {
		return err
	}
	out := struct {
		Things     []thingJSON `json:"things"`
		NextCursor string      `json:"nextCursor,omitempty"`
	}{Things: make([]thingJSON, len(things)), NextCursor: nameCursorOf("things", next)}
	for i, t := range things {
		out.Things[i] = thingOf(t)
	}
	encode(w, http.StatusOK, out)
	return nil
}

type thingPatch struct {
	ThingTypeName   *string           `json:"thingTypeName"`
	Attributes      map[string]string `json:"attributes"`
	Merge           bool              `json:"merge"`
	ExpectedVersion int64             `json:"expectedVersion"`
}

// handleUpdateThing: PATCH /v1/things/{name}: its type ("" removes it) and
// attributes (replaced, or merged with merge=true where "" removes one),
// optionally only at expectedVersion (409 when stale).
func (s *server) handleUpdateThing(w http.ResponseWriter, r *http.Request) error {
	name, err := registryName(r, "name", "thing")
	if err != nil {
		return err
	}
	req, err := readJSON[thingPatch](w, r)
	if err != nil {
		return err
	}
	if req.ThingTypeName == nil && req.Attributes == nil {
		err = imprint.Errorf(imprint.Invalid, "nothing to change: give thingTypeName or attributes")
	}
	if err == nil && req.ThingTypeName != nil && *req.ThingTypeName != "" {
		err = imprint.ThingTypeNameRule.Validate("thingTypeName", *req.ThingTypeName)
	}
	if err == nil && !req.Merge {
		err = imprint.ValidateAttributes(req.Attributes)
	}
	if err != nil {
		return err
	}
	t, err := s.registry.UpdateThing(r.Context(), name, imprint.ThingUpdate{TypeName: req.ThingTypeName,
		Attributes: req.Attributes, Merge: req.Merge, ExpectedVersion: req.ExpectedVersion}, imprint.ActorFromContext(r.Context()))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, thingOf(t))
	return nil
}

// handleDeleteThing: DELETE /v1/things/{name}?detachPrincipals=true&expectedVersion=N.
func (s *server) handleDeleteThing(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "detachPrincipals", "expectedVersion")
	var name string
	if err == nil {
		name, err = registryName(r, "name", "thing")
	}
	var detach bool
	if err == nil {
		detach, err = boolParam(q, "detachPrincipals")
	}
	var version int64
	if v := q.Get("expectedVersion"); v != "" && err == nil {
		if version, err = strconv.ParseInt(v, 10, 64); err != nil || version < 1 {
			err = imprint.Errorf(imprint.Invalid, "expectedVersion must be a positive number")
		}
	}
	if err == nil {
		err = s.registry.DeleteThing(r.Context(), name, detach, version, imprint.ActorFromContext(r.Context()))
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type principalJSON struct {
	ThingName     string `json:"thingName"`
	CertificateID string `json:"certificateId"`
	Type          string `json:"type"`
}

func principalsOf(ps []imprint.Principal) []principalJSON {
	out := make([]principalJSON, len(ps))
	for i, p := range ps {
		out[i] = principalJSON{ThingName: p.ThingName, CertificateID: p.CertificateID, Type: "NON_EXCLUSIVE_THING"}
		if p.Exclusive {
			out[i].Type = "EXCLUSIVE_THING"
		}
	}
	return out
}

// handleAttachPrincipal: PUT /v1/things/{name}/principals/{id}?type=EXCLUSIVE_THING|NON_EXCLUSIVE_THING.
func (s *server) handleAttachPrincipal(w http.ResponseWriter, r *http.Request) error {
	q, err := queryParams(r, "type")
	var name, id string
	if err == nil {
		name, err = registryName(r, "name", "thing")
	}
	if err == nil {
		id, err = idParam(r, "id", "certificate ID")
	}
	exclusive := false
	switch q.Get("type") {
	case "", "NON_EXCLUSIVE_THING":
	case "EXCLUSIVE_THING":
		exclusive = true
	default:
		err = imprint.Errorf(imprint.Invalid, "type must be EXCLUSIVE_THING or NON_EXCLUSIVE_THING")
	}
	if err == nil {
		err = s.registry.AttachPrincipal(r.Context(), name, id, exclusive, imprint.ActorFromContext(r.Context()))
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleDetachPrincipal: DELETE /v1/things/{name}/principals/{id}.
func (s *server) handleDetachPrincipal(w http.ResponseWriter, r *http.Request) error {
	name, err := registryName(r, "name", "thing")
	var id string
	if err == nil {
		id, err = idParam(r, "id", "certificate ID")
	}
	if err == nil {
		err = s.registry.DetachPrincipal(r.Context(), name, id, imprint.ActorFromContext(r.Context()))
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleThingPrincipals: GET /v1/things/{name}/principals.
func (s *server) handleThingPrincipals(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	name, err := registryName(r, "name", "thing")
	if err == nil {
		_, err = s.registry.Thing(r.Context(), name)
	}
	var ps []imprint.Principal
	if err == nil {
		ps, err = s.registry.Principals(r.Context(), name, "")
	}
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, map[string]any{"principals": principalsOf(ps)})
	return nil
}

// handleCertificateThings: GET /v1/certificates/{id}/things.
func (s *server) handleCertificateThings(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	id, err := idParam(r, "id", "certificate ID")
	if err == nil {
		_, err = s.certs.Certificate(r.Context(), id)
	}
	var ps []imprint.Principal
	if err == nil {
		ps, err = s.registry.Principals(r.Context(), "", id)
	}
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, map[string]any{"principals": principalsOf(ps)})
	return nil
}

type groupJSON struct {
	ThingGroupName  string            `json:"thingGroupName"`
	ParentGroupName string            `json:"parentGroupName,omitempty"`
	Description     string            `json:"description,omitempty"`
	Attributes      map[string]string `json:"attributes"`
	CreatedAt       time.Time         `json:"createdAt"`
}

func groupOf(g *imprint.ThingGroup) groupJSON {
	attrs := g.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	return groupJSON{ThingGroupName: g.Name, ParentGroupName: g.Parent, Description: g.Description, Attributes: attrs,
		CreatedAt: g.CreatedAt.UTC()}
}

type groupRequest struct {
	ThingGroupName  string            `json:"thingGroupName"`
	ParentGroupName string            `json:"parentGroupName"`
	Description     string            `json:"description"`
	Attributes      map[string]string `json:"attributes"`
}

func (q groupRequest) Validate() error {
	if err := imprint.ThingGroupNameRule.Validate("thingGroupName", q.ThingGroupName); err != nil {
		return err
	}
	if q.ParentGroupName != "" {
		if err := imprint.ThingGroupNameRule.Validate("parentGroupName", q.ParentGroupName); err != nil {
			return err
		}
	}
	if q.ParentGroupName == q.ThingGroupName {
		return imprint.Errorf(imprint.Invalid, "parentGroupName: thing group %s cannot be its own parent", q.ThingGroupName)
	}
	if err := validateDescription(q.Description); err != nil {
		return err
	}
	return imprint.ValidateAttributes(q.Attributes)
}

// handleCreateThingGroup: POST /v1/thing-groups.
func (s *server) handleCreateThingGroup(w http.ResponseWriter, r *http.Request) error {
	req, err := readJSON[groupRequest](w, r)
	if err != nil {
		return err
	}
	g := &imprint.ThingGroup{Name: req.ThingGroupName, Parent: req.ParentGroupName, Description: req.Description, Attributes: req.Attributes}
	if err := s.registry.CreateThingGroup(r.Context(), g, imprint.ActorFromContext(r.Context())); err != nil {
		return err
	}
	encode(w, http.StatusCreated, groupOf(g))
	return nil
}

// handleListThingGroups: GET /v1/thing-groups.
func (s *server) handleListThingGroups(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	gs, err := s.registry.ThingGroups(r.Context(), "")
	if err != nil {
		return err
	}
	out := make([]groupJSON, len(gs))
	for i, g := range gs {
		out[i] = groupOf(g)
	}
	encode(w, http.StatusOK, map[string]any{"thingGroups": out})
	return nil
}

// handleGetThingGroup: GET /v1/thing-groups/{name}.
func (s *server) handleGetThingGroup(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	name, err := registryName(r, "name", "thing group")
	var g *imprint.ThingGroup
	if err == nil {
		g, err = s.registry.ThingGroup(r.Context(), name)
	}
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, groupOf(g))
	return nil
}

// handleDeleteThingGroup: DELETE /v1/thing-groups/{name}; 409 with children
// or policies attached.
func (s *server) handleDeleteThingGroup(w http.ResponseWriter, r *http.Request) error {
	name, err := registryName(r, "name", "thing group")
	if err == nil {
		err = s.registry.DeleteThingGroup(r.Context(), name, imprint.ActorFromContext(r.Context()))
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) groupMembership(w http.ResponseWriter, r *http.Request, add bool) error {
	group, err := registryName(r, "name", "thing group")
	var thing string
	if err == nil {
		thing, err = registryName(r, "thing", "thing")
	}
	if err == nil && add {
		err = s.registry.AddThingToGroup(r.Context(), group, thing, imprint.ActorFromContext(r.Context()))
	} else if err == nil {
		err = s.registry.RemoveThingFromGroup(r.Context(), group, thing, imprint.ActorFromContext(r.Context()))
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleAddToGroup: PUT /v1/thing-groups/{name}/things/{thing}.
func (s *server) handleAddToGroup(w http.ResponseWriter, r *http.Request) error {
	return s.groupMembership(w, r, true)
}

// handleRemoveFromGroup: DELETE /v1/thing-groups/{name}/things/{thing}.
func (s *server) handleRemoveFromGroup(w http.ResponseWriter, r *http.Request) error {
	return s.groupMembership(w, r, false)
}
