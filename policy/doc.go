// Package policy parses, validates, compiles and evaluates IoT policies: the
// IAM-style JSON documents of AWS IoT Core that say which devices may
// connect, publish, subscribe, receive, and use shadows, jobs and role
// aliases. It is pure: no I/O, no clock, no globals that change.
//
// Compile a policy version once, cache it (Cache), and decide each request
// against the policies that apply to the connection:
//
//	p, err := policy.Compile("sensor-policy", document, policy.WithVersion("3"))
//	...
//	d := policy.Decide(&policy.Request{
//		Action:   policy.ActionPublish,
//		Resource: "topic/sensor-1/temperature",
//		ClientID: "sensor-1",
//		Thing:    &policy.Thing{Name: "sensor-1", Attached: true},
//	}, p)
//
// Decide is the hot path and allocates nothing in the common case; Explain
// reports every allowing and denying policy and the missing context values,
// as TestAuthorization needs. docs/policies.md describes the language for
// users, and where Imprint decides what AWS leaves open.
package policy
