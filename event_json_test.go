package imprint_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
)

// TestEventJSON checks the one JSON form of an event, which the API, the
// event stream and webhook deliveries share.
func TestEventJSON(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		e    imprint.Event
		want string
	}{
		{"with data", imprint.Event{ID: 7, Type: imprint.EventCertificateRevoked, ResourceType: "certificate",
			ResourceID: "ab12", Actor: imprint.Actor{TokenID: "tok_1", Name: "ops", Role: imprint.RoleAdmin},
			Data: json.RawMessage(`{"reason":"keyCompromise"}`), CreatedAt: at},
			`{"id":7,"type":"certificate.revoked","resourceType":"certificate","resourceId":"ab12",` +
				`"actor":{"name":"ops","role":"admin"},"data":{"reason":"keyCompromise"},"createdAt":"2026-03-04T04:06:07Z"}`},
		{"without data", imprint.Event{ID: 8, Type: imprint.EventCACreated, ResourceType: "ca", ResourceID: "ca_1",
			Actor: imprint.SystemActor, CreatedAt: at.UTC()},
			`{"id":8,"type":"ca.created","resourceType":"ca","resourceId":"ca_1",` +
				`"actor":{"name":"` + imprint.SystemActor.Name + `","role":"` + string(imprint.SystemActor.Role) + `"},"createdAt":"2026-03-04T04:06:07Z"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range []any{tt.e, &tt.e} {
				got, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tt.want {
					t.Errorf("json.Marshal(%T) = %s, want %s", v, got, tt.want)
				}
			}
		})
	}
}
