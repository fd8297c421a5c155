// Package templates is Imprint's provisioning template language, compatible
// with AWS IoT's provisioning templates: it parses a template body,
// validates it with precise errors when it is saved, and evaluates it with
// a device's parameters into a Plan of resources (a thing, a certificate,
// policies and a device configuration). It does no I/O.
//
// Parse once per template version and keep the *Template: it is immutable
// and safe for concurrent use. Evaluate is cheap and bounded: no template
// can make it slow or its output large (see Limits).
//
// The language is AWS IoT's: Parameters, Mappings, Resources of type
// AWS::IoT::Thing, AWS::IoT::Certificate and AWS::IoT::Policy with their
// OverrideSettings, DeviceConfiguration, and the functions Ref, Fn::Join,
// Fn::Select, Fn::Split, Fn::Sub and Fn::FindInMap. Imprint adds a
// Conditions section, a Condition attribute on resources, Fn::If, the
// condition functions, AWS::NoValue, and certificate-derived parameters
// named Imprint::Certificate::*. AWS IoT's template language gives none of
// these names a meaning, so a template written for AWS IoT evaluates the
// same in Imprint; Options.DisableExtensions refuses them. The user's guide
// is docs/templates.md.
package templates
