package postgres

import "github.com/imprint-iot/imprint"

// The data of audit events that more than one path writes, in one place so
// that the paths write the same.

func thingCreatedData(typeName string) map[string]any {
	return map[string]any{"thingTypeName": typeName}
}

func principalAttachedData(certificateID string, exclusive bool) map[string]any {
	return map[string]any{"certificateId": certificateID, "exclusive": exclusive}
}

func policyAttachedData(targetType, targetID string) map[string]string {
	return map[string]string{"targetType": targetType, "targetId": targetID}
}

// policyCreatedData is a created policy's: its first version.
var policyCreatedData = map[string]any{"versionId": 1}

// statusEventData is the data of c's move from its status to another.
func statusEventData(c *imprint.Certificate, to imprint.CertificateStatus) map[string]string {
	return map[string]string{"from": string(c.Status), "to": string(to), "serial": c.Serial, "caId": c.CAID}
}
