package imprint

import "time"

// PolicyTarget is one attachment of a policy: to a certificate (Type
// TargetCertificate, ID the certificate ID) or to a thing group (Type
// TargetThingGroup, ID the group's name).
type PolicyTarget struct {
	PolicyName string
	Type       string
	ID         string
	CreatedAt  time.Time
}
