package api_test

import (
	"slices"
	"testing"

	"github.com/imprint-iot/imprint"
)

// TestSpecEventTypes checks the spec's EventType against the event types the
// server writes, both ways, and the webhook's limit of event types against
// their number: a client generated from the spec must accept every event.
func TestSpecEventTypes(t *testing.T) {
	t.Parallel()
	spec, err := loadSpecDoc()
	if err != nil {
		t.Fatal(err)
	}
	schema := spec.doc.Components.Schemas["EventType"]
	if schema == nil || schema.Value == nil {
		t.Fatal("openapi.yaml has no EventType schema")
	}
	var listed []string
	for _, v := range schema.Value.Enum {
		listed = append(listed, v.(string))
	}
	for _, e := range imprint.EventTypes {
		if !slices.Contains(listed, e) {
			t.Errorf("event type %s is missing from EventType in openapi.yaml", e)
		}
	}
	for _, e := range listed {
		if !slices.Contains(imprint.EventTypes, e) {
			t.Errorf("EventType in openapi.yaml lists %s, which the server never writes", e)
		}
	}
	hook := spec.doc.Components.Schemas["CreateWebhookRequest"]
	if hook == nil || hook.Value.Properties["events"] == nil {
		t.Fatal("openapi.yaml has no CreateWebhookRequest.events")
	}
	if max := hook.Value.Properties["events"].Value.MaxItems; max == nil || int(*max) != len(imprint.EventTypes) {
		t.Errorf("CreateWebhookRequest.events maxItems = %v, want %d (every event type)", max, len(imprint.EventTypes))
	}
}
