package policy

import (
	"encoding/json"
	"strconv"
	"strings"
)

func (c *compiler) statement(raw json.RawMessage, path string) {
	obj, ok := decodeObject(raw)
	if !ok {
		c.ps.Add(path, "must be an object")
		return
	}
	for _, k := range sortedKeys(obj) {
		switch k {
		case "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition":
		case "Principal", "NotPrincipal":
			c.ps.Add(field(path, k), "is not allowed in an IoT policy; attach the policy to a certificate or thing group instead")
		default:
			c.ps.Add(field(path, k), "unknown element (want Sid, Effect, Action, NotAction, Resource, NotResource or Condition)")
		}
	}
	var st Statement
	var cs statement
	c.sid(obj, path, &st)
	c.effect(obj, path, &st, &cs)
	c.actions(obj, path, &st, &cs)
	c.resources(obj, path, &st, &cs)
	c.conditions(obj["Condition"], field(path, "Condition"), &st, &cs)
	cs.vars = statementVars(&cs)
	c.doc.Statements = append(c.doc.Statements, st)
	c.stmts = append(c.stmts, cs)
}

func (c *compiler) sid(obj map[string]json.RawMessage, path string, st *Statement) {
	raw, ok := obj["Sid"]
	if !ok {
		return
	}
	sid, ok := decodeString(raw)
	switch {
	case !ok:
		c.ps.Add(field(path, "Sid"), "must be a string")
	case sid != "" && c.sids[sid]:
		c.ps.Add(field(path, "Sid"), "repeats "+quote(sid)+" of an earlier statement")
	}
	c.sids[sid] = true
	st.Sid = sid
}

func (c *compiler) effect(obj map[string]json.RawMessage, path string, st *Statement, cs *statement) {
	raw, ok := obj["Effect"]
	if !ok {
		c.ps.Add(path, "needs an Effect")
		return
	}
	e, ok := decodeString(raw)
	if !ok || (Effect(e) != Allow && Effect(e) != Deny) {
		c.ps.Add(field(path, "Effect"), "must be \"Allow\" or \"Deny\"")
		return
	}
	st.Effect = Effect(e)
	cs.deny = st.Effect == Deny
}

// pair returns which of the elements name and "Not"+name the statement
// has, reporting a statement with both or neither.
func (c *compiler) pair(obj map[string]json.RawMessage, path, name string) (json.RawMessage, string, bool) {
	raw, has := obj[name]
	rawNot, hasNot := obj["Not"+name]
	switch {
	case has && hasNot:
		c.ps.Add(path, "has both "+name+" and Not"+name)
		return nil, "", false
	case has:
		return raw, name, true
	case hasNot:
		return rawNot, "Not" + name, true
	}
	c.ps.Add(path, "needs "+name+" or Not"+name)
	return nil, "", false
}

func (c *compiler) actions(obj map[string]json.RawMessage, path string, st *Statement, cs *statement) {
	raw, name, ok := c.pair(obj, path, "Action")
	if !ok {
		return
	}
	var set actionSet
	items := c.stringList(raw, field(path, name), func(text, p string) {
		s, msg := compileAction(text)
		if msg != "" {
			c.ps.Add(p, msg)
		}
		set |= s
	})
	if name == "Action" {
		st.Action, cs.actions = items, set
	} else {
		st.NotAction, cs.actions = items, allActions&^set
	}
}

func (c *compiler) resources(obj map[string]json.RawMessage, path string, st *Statement, cs *statement) {
	raw, name, ok := c.pair(obj, path, "Resource")
	if !ok {
		return
	}
	items := c.stringList(raw, field(path, name), func(text, p string) {
		pat, msg := compileResource(text)
		if msg != "" {
			c.ps.Add(p, msg)
			return
		}
		cs.resources = append(cs.resources, pat)
	})
	if name == "Resource" {
		st.Resource = items
	} else {
		st.NotResource, cs.notResource = items, true
	}
}

// stringList decodes a string or a list of strings, calling each with
// every string and its path, in order, and returning the strings.
func (c *compiler) stringList(raw json.RawMessage, path string, each func(s, path string)) []string {
	return c.list(raw, path, decodeString, "a string or a list of strings", each)
}

// list decodes a value or a list of values with decode, calling each with
// every value and its path, in order, and returning the values.
func (c *compiler) list(raw json.RawMessage, path string, decode func(json.RawMessage) (string, bool), want string, each func(s, path string)) []string {
	list, single, ok := decodeList(raw)
	switch {
	case !ok:
		c.ps.Add(path, "must be "+want)
		return nil
	case len(list) == 0:
		c.ps.Add(path, "must not be empty")
		return nil
	case len(list) > c.lim.MaxListLength:
		c.ps.Add(path, "has "+strconv.Itoa(len(list))+" items; the limit is "+strconv.Itoa(c.lim.MaxListLength))
		return nil
	}
	items := make([]string, 0, len(list))
	for i, r := range list {
		p := path
		if !single {
			p = index(path, i)
		}
		s, ok := decode(r)
		if !ok {
			c.ps.Add(p, "must be "+want)
			continue
		}
		items = append(items, s)
		each(s, p)
	}
	return items
}

func (c *compiler) conditions(raw json.RawMessage, path string, st *Statement, cs *statement) {
	if raw == nil {
		return
	}
	ops, ok := decodeObject(raw)
	switch {
	case !ok:
		c.ps.Add(path, "must be an object of condition operators")
		return
	case len(ops) > c.lim.MaxListLength:
		c.ps.Add(path, "has "+strconv.Itoa(len(ops))+" operators; the limit is "+strconv.Itoa(c.lim.MaxListLength))
		return
	}
	for _, op := range sortedKeys(ops) {
		opPath := field(path, op)
		tmpl, msg := parseOperator(op)
		if msg != "" {
			c.ps.Add(opPath, msg)
			continue
		}
		keys, ok := decodeObject(ops[op])
		switch {
		case !ok || len(keys) == 0:
			c.ps.Add(opPath, "must be an object of one or more condition keys")
			continue
		case len(keys) > c.lim.MaxListLength:
			c.ps.Add(opPath, "has "+strconv.Itoa(len(keys))+" keys; the limit is "+strconv.Itoa(c.lim.MaxListLength))
			continue
		}
		for _, name := range sortedKeys(keys) {
			c.condition(tmpl, op, name, keys[name], keyPath(opPath, name), st, cs)
		}
	}
}

func (c *compiler) condition(tmpl condition, op, name string, raw json.RawMessage, path string, st *Statement, cs *statement) {
	k, ok := parseKey(name)
	if !ok {
		msg := "unknown condition key " + quote(name)
		if !strings.HasPrefix(strings.ToLower(name), "iot:") {
			msg = "unsupported condition key " + quote(name) + " (of the aws: keys, Imprint has aws:SourceIp)"
		}
		c.ps.Add(path, msg)
		return
	}
	cond := tmpl
	cond.key = k
	items := c.list(raw, path, decodeScalar, "a string, number or boolean, or a list of them", func(v, p string) {
		if msg := cond.addValue(v); msg != "" {
			c.ps.Add(p, msg)
		}
	})
	st.Condition = append(st.Condition, Condition{Operator: op, Key: name, Values: items})
	cs.conds = append(cs.conds, cond)
}

// statementVars returns the variables a statement uses, once each.
func statementVars(cs *statement) []*key {
	var out []*key
	add := func(ks []*key) {
		for _, k := range ks {
			if !containsKey(out, k) {
				out = append(out, k)
			}
		}
	}
	for i := range cs.resources {
		add(cs.resources[i].vars)
	}
	for i := range cs.conds {
		add(cs.conds[i].vars())
	}
	return out
}

func containsKey(list []*key, k *key) bool {
	for _, v := range list {
		if v.name == k.name {
			return true
		}
	}
	return false
}
