package templates

import (
	"strings"

	"github.com/imprint-iot/imprint"
)

// Override says what provisioning does with a property of a resource that
// already exists (OverrideSettings).
type Override string

// The override settings. A setting the template leaves out is DoNothing.
const (
	DoNothing Override = "DO_NOTHING" // keep the existing value
	Replace   Override = "REPLACE"    // overwrite it with the template's value
	Fail      Override = "FAIL"       // fail provisioning with a conflict
	Merge     Override = "MERGE"      // union of existing and template values; attributes and groups only
)

// ThingOverrides are the override settings of a thing's properties.
type ThingOverrides struct {
	AttributePayload Override
	ThingTypeName    Override
	ThingGroups      Override
}

// overrideKey is a property that OverrideSettings may name.
type overrideKey struct {
	name  string // the property name; the upper-snake alias maps to it
	merge bool   // MERGE is allowed
}

var thingOverrideKeys = map[string]overrideKey{
	"AttributePayload":  {"AttributePayload", true},
	"ATTRIBUTE_PAYLOAD": {"AttributePayload", true},
	"ThingTypeName":     {"ThingTypeName", false},
	"THING_TYPE_NAME":   {"ThingTypeName", false},
	"ThingGroups":       {"ThingGroups", true},
	"THING_GROUPS":      {"ThingGroups", true},
}

var certOverrideKeys = map[string]overrideKey{
	"Status": {"Status", false},
	"STATUS": {"Status", false},
}

// overrideSettings compiles an OverrideSettings object against keys and
// calls set for each valid setting.
func (c *compiler) overrideSettings(n *jnode, path string, keys map[string]overrideKey, what string, set func(name string, o Override)) {
	if n.kind != jObject || isFunction(n) {
		c.ps.Add(path, "must be an object of property names and settings")
		return
	}
	seen := make(map[string]bool, len(n.keys))
	for i, key := range n.keys {
		v, vpath := n.items[i], child(path, key)
		k, ok := keys[key]
		if !ok {
			c.ps.Add(vpath, "OverrideSettings of "+what+" do not apply to "+quote(key))
			continue
		}
		if seen[k.name] {
			c.ps.Add(vpath, "a second setting for "+k.name)
			continue
		}
		seen[k.name] = true
		if v.kind != jString {
			c.ps.Add(vpath, "must be DO_NOTHING, REPLACE, FAIL or MERGE, written as a string")
			continue
		}
		o := Override(strings.ToUpper(v.str))
		switch {
		case o == Merge && !k.merge:
			c.ps.Add(vpath, "MERGE is allowed only for AttributePayload and ThingGroups; use DO_NOTHING, REPLACE or FAIL")
		case o == DoNothing || o == Replace || o == Fail || o == Merge:
			set(k.name, o)
		default:
			c.ps.Add(vpath, "unknown setting "+quote(v.str)+"; use DO_NOTHING, REPLACE, FAIL or MERGE")
		}
	}
}

func (c *compiler) thingOverrides(o *ThingOverrides, n *jnode, path string) {
	c.overrideSettings(n, path, thingOverrideKeys, "things", func(name string, v Override) {
		switch name {
		case "AttributePayload":
			o.AttributePayload = v
		case "ThingTypeName":
			o.ThingTypeName = v
		case "ThingGroups":
			o.ThingGroups = v
		}
	})
}

func (c *compiler) certOverrides(r *certResource, n *jnode, path string) {
	c.overrideSettings(n, path, certOverrideKeys, "certificates", func(_ string, v Override) {
		r.statusOverride = v
	})
}

// parseStatus parses a certificate status of a template, in any case, as
// AWS's own examples write "Active".
func parseStatus(s string) (imprint.CertificateStatus, bool) {
	switch {
	case strings.EqualFold(s, string(imprint.CertificateActive)):
		return imprint.CertificateActive, true
	case strings.EqualFold(s, string(imprint.CertificateInactive)):
		return imprint.CertificateInactive, true
	}
	return "", false
}
