package api_test

import (
	"fmt"
	"strings"
	"testing"
)

func TestThingsAndTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if r := e.do("POST", "/v1/thing-types", e.admin, map[string]string{"thingTypeName": "sensor", "description": "line A"}); r.status != 201 {
		t.Fatalf("create type = %d %s", r.status, r.body)
	}
	r := e.do("POST", "/v1/things", e.admin, map[string]any{"thingName": "dev-1", "thingTypeName": "sensor",
		"attributes": map[string]string{"color": "red", "line": "A"}})
	if r.status != 201 || !strings.Contains(string(r.body), `"version":1`) {
		t.Fatalf("create thing = %d %s", r.status, r.body)
	}
	for name, body := range map[string]map[string]any{
		"bad name":        {"thingName": "no spaces"},
		"long name":       {"thingName": strings.Repeat("a", 129)},
		"bad attribute":   {"thingName": "x1", "attributes": map[string]string{"bad key": "v"}},
		"bad value":       {"thingName": "x1", "attributes": map[string]string{"k": "no spaces"}},
		"too many":        {"thingName": "x1", "attributes": manyAttributes(51)},
		"unknown type":    {"thingName": "x1", "thingTypeName": "nope"},
		"duplicate thing": {"thingName": "dev-1"},
		"unknown field":   {"thingName": "x1", "colour": "red"},
	} {
		want := map[string]int{"unknown type": 404, "duplicate thing": 409}[name]
		if want == 0 {
			want = 400
		}
		if r := e.doInvalid("POST", "/v1/things", e.admin, body); r.status != want {
			t.Errorf("%s: create = %d %s, want %d", name, r.status, r.body, want)
		}
	}
	// Optimistic concurrency.
	r = e.do("PATCH", "/v1/things/dev-1", e.admin, map[string]any{"attributes": map[string]string{"color": "", "size": "L"},
		"merge": true, "expectedVersion": 1})
	if r.status != 200 || !strings.Contains(string(r.body), `"version":2`) || strings.Contains(string(r.body), "color") ||
		!strings.Contains(string(r.body), `"size":"L"`) {
		t.Fatalf("merge update = %d %s", r.status, r.body)
	}
	if r := e.do("PATCH", "/v1/things/dev-1", e.admin, map[string]any{"attributes": map[string]string{}, "expectedVersion": 1}); r.status != 409 {
		t.Errorf("stale update = %d %s, want 409", r.status, r.body)
	}
	// Listing by type, attribute and prefix, paged.
	for i := range 7 {
		e.do("POST", "/v1/things", e.admin, map[string]any{"thingName": fmt.Sprintf("fleet-%d", i),
			"attributes": map[string]string{"line": []string{"A", "B"}[i%2]}})
	}
	count := func(query string) int {
		var names []string
		path := "/v1/things?limit=3&" + query
		for range 10 {
			var p struct {
				Things     []struct{ ThingName string }
				NextCursor string
			}
			e.do("GET", path, e.auditor, nil).json(t, &p)
			for _, x := range p.Things {
				names = append(names, x.ThingName)
			}
			if p.NextCursor == "" {
				break
			}
			path = "/v1/things?limit=3&" + query + "&cursor=" + p.NextCursor
		}
		return len(names)
	}
	for query, want := range map[string]int{"": 8, "namePrefix=fleet-": 7, "thingTypeName=sensor": 1,
		"attributeName=line&attributeValue=A": 5, "attributeName=size": 1} {
		if got := count(query); got != want {
			t.Errorf("GET /v1/things?%s listed %d, want %d", query, got, want)
		}
	}
	// Types: deprecated types take no new things; delete only deprecated and unused.
	e.do("PATCH", "/v1/thing-types/sensor", e.admin, map[string]bool{"deprecated": true})
	if r := e.do("POST", "/v1/things", e.admin, map[string]any{"thingName": "dev-2", "thingTypeName": "sensor"}); r.status != 400 {
		t.Errorf("thing of a deprecated type = %d, want 400", r.status)
	}
	if r := e.do("DELETE", "/v1/thing-types/sensor", e.admin, nil); r.status != 409 {
		t.Errorf("delete a type in use = %d, want 409", r.status)
	}
	e.do("PATCH", "/v1/things/dev-1", e.admin, map[string]any{"thingTypeName": ""})
	if r := e.do("DELETE", "/v1/thing-types/sensor", e.admin, nil); r.status != 204 {
		t.Errorf("delete an unused deprecated type = %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/things", e.factory, map[string]any{"thingName": "f1"}); r.status != 403 {
		t.Errorf("factory creates a thing = %d, want 403", r.status)
	}
}

func manyAttributes(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("a%d", i)] = "v"
	}
	return m
}

func TestGroupsAndPrincipals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, g := range []map[string]string{{"thingGroupName": "plant"}, {"thingGroupName": "line-a", "parentGroupName": "plant"}} {
		if r := e.do("POST", "/v1/thing-groups", e.admin, g); r.status != 201 {
			t.Fatalf("create group = %d %s", r.status, r.body)
		}
	}
	if r := e.do("POST", "/v1/thing-groups", e.admin, map[string]string{"thingGroupName": "x", "parentGroupName": "nope"}); r.status != 404 {
		t.Errorf("group under an unknown parent = %d, want 404", r.status)
	}
	e.do("POST", "/v1/things", e.admin, map[string]any{"thingName": "dev-1"})
	e.do("POST", "/v1/things", e.admin, map[string]any{"thingName": "dev-2"})
	if r := e.do("PUT", "/v1/thing-groups/line-a/things/dev-1", e.admin, nil); r.status != 204 {
		t.Fatalf("add to group = %d %s", r.status, r.body)
	}
	e.do("PUT", "/v1/thing-groups/line-a/things/dev-1", e.admin, nil) // twice is fine
	var thing struct{ ThingGroups []string }
	e.do("GET", "/v1/things/dev-1", e.auditor, nil).json(t, &thing)
	if len(thing.ThingGroups) != 1 || thing.ThingGroups[0] != "line-a" {
		t.Errorf("thing groups = %v", thing.ThingGroups)
	}
	for i := range 9 {
		e.do("POST", "/v1/thing-groups", e.admin, map[string]string{"thingGroupName": fmt.Sprintf("g%d", i)})
		if r := e.do("PUT", fmt.Sprintf("/v1/thing-groups/g%d/things/dev-1", i), e.admin, nil); r.status != 204 {
			t.Fatalf("group %d = %d", i, r.status)
		}
	}
	e.do("POST", "/v1/thing-groups", e.admin, map[string]string{"thingGroupName": "g-eleventh"})
	if r := e.do("PUT", "/v1/thing-groups/g-eleventh/things/dev-1", e.admin, nil); r.status != 409 {
		t.Errorf("an eleventh group = %d, want 409", r.status)
	}
	if r := e.do("DELETE", "/v1/thing-groups/plant", e.admin, nil); r.status != 409 {
		t.Errorf("delete a group with children = %d, want 409", r.status)
	}
	// Principals, exclusive and not.
	shared, own := e.issueOne("shared"), e.issueOne("own")
	put := func(thing, id, typ string) int {
		return e.do("PUT", "/v1/things/"+thing+"/principals/"+id+"?type="+typ, e.admin, nil).status
	}
	if s := put("dev-1", shared.CertificateID, "NON_EXCLUSIVE_THING"); s != 204 {
		t.Fatalf("attach = %d", s)
	}
	if s := put("dev-2", shared.CertificateID, ""); s != 204 {
		t.Errorf("attach the same certificate to another thing = %d, want 204", s)
	}
	if s := put("dev-1", own.CertificateID, "EXCLUSIVE_THING"); s != 204 {
		t.Fatalf("exclusive attach = %d", s)
	}
	if s := put("dev-2", own.CertificateID, ""); s != 409 {
		t.Errorf("attach an exclusive certificate elsewhere = %d, want 409", s)
	}
	if s := put("dev-2", shared.CertificateID, "EXCLUSIVE_THING"); s != 409 {
		t.Errorf("make a shared certificate exclusive = %d, want 409", s)
	}
	if s := put("dev-1", strings.Repeat("0", 64), ""); s != 404 {
		t.Errorf("attach an unknown certificate = %d, want 404", s)
	}
	var ps struct {
		Principals []struct{ ThingName, Type string }
	}
	e.do("GET", "/v1/certificates/"+shared.CertificateID+"/things", e.auditor, nil).json(t, &ps)
	if len(ps.Principals) != 2 {
		t.Errorf("things of the shared certificate = %+v", ps.Principals)
	}
	// A thing with certificates attached is deleted only when asked to detach.
	if r := e.do("DELETE", "/v1/things/dev-1", e.admin, nil); r.status != 409 {
		t.Errorf("delete a thing with principals = %d, want 409", r.status)
	}
	if r := e.do("DELETE", "/v1/things/dev-1?detachPrincipals=true", e.admin, nil); r.status != 204 {
		t.Errorf("delete with detachPrincipals = %d %s", r.status, r.body)
	}
	if n := e.count(`SELECT count(*) FROM thing_principals WHERE thing_name = 'dev-1'`); n != 0 {
		t.Errorf("principals left after delete = %d", n)
	}
	if r := e.do("DELETE", "/v1/things/dev-2/principals/"+shared.CertificateID, e.admin, nil); r.status != 204 {
		t.Errorf("detach = %d", r.status)
	}
	if r := e.do("DELETE", "/v1/things/dev-2/principals/"+shared.CertificateID, e.admin, nil); r.status != 404 {
		t.Errorf("detach again = %d, want 404", r.status)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type LIKE 'thing%'`); n < 15 {
		t.Errorf("registry audit events = %d, want every change recorded", n)
	}
}
