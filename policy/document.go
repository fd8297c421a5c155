package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
)

// Document is a parsed, valid IoT policy document: the IAM-style JSON that
// AWS IoT's CreatePolicy takes.
type Document struct {
	Version    string // "2012-10-17" or "2008-10-17"
	ID         string // the optional "Id" element
	Statements []Statement
}

// Effect is what a statement does to the requests it matches.
type Effect string

// The effects.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Statement is one statement of a Document. Exactly one of Action and
// NotAction is set, and exactly one of Resource and NotResource.
type Statement struct {
	Sid         string
	Effect      Effect
	Action      []string
	NotAction   []string
	Resource    []string
	NotResource []string
	// Condition lists the condition block's entries, sorted by operator
	// then key. All must hold for the statement to match.
	Condition []Condition
}

// Condition is one key of one operator of a statement's condition block,
// such as {"StringEquals": {"iot:Connection.Thing.ThingTypeName": ["lamp"]}}.
type Condition struct {
	Operator string   // "StringEquals", "ForAnyValue:StringLike", ...
	Key      string   // "iot:Connection.Thing.ThingTypeName", ...
	Values   []string // numbers and booleans in their JSON text
}

// The versions of the policy language.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// decodeObject decodes raw as a JSON object.
func decodeObject(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, false
	}
	return m, true
}

// decodeList decodes raw as a JSON list, or as a list of one if it is not a
// list. It reports whether raw was a single value.
func decodeList(raw json.RawMessage) ([]json.RawMessage, bool, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return []json.RawMessage{raw}, true, true
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, false, false
	}
	return list, false, true
}

// decodeString decodes raw as a JSON string.
func decodeString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err == nil
}

// decodeScalar decodes raw as a JSON string, number or boolean, giving
// numbers and booleans as their JSON text.
func decodeScalar(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if s, ok := decodeString(raw); ok {
		return s, true
	}
	switch {
	case string(raw) == "true" || string(raw) == "false":
		return string(raw), true
	case len(raw) > 0 && (raw[0] == '-' || ('0' <= raw[0] && raw[0] <= '9')):
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String(), true
		}
	}
	return "", false
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// syntaxMessage describes a JSON decoding error.
func syntaxMessage(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "invalid JSON at byte " + strconv.FormatInt(se.Offset, 10) + ": " + se.Error()
	}
	return "invalid JSON: " + err.Error()
}
