package templates

import (
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/imprint-iot/imprint"
)

// jkind is the kind of a JSON value.
type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

// jnode is a decoded JSON value that, unlike map[string]any, keeps the
// order of object members, so that plans and problems come out in the order
// the template was written.
type jnode struct {
	kind  jkind
	str   string   // the string, the number's text, or "true"/"false"
	keys  []string // object member names
	items []*jnode // array items, or object member values (parallel to keys)
}

// member returns the value of the object member named key, or nil.
func (n *jnode) member(key string) *jnode {
	for i, k := range n.keys {
		if k == key {
			return n.items[i]
		}
	}
	return nil
}

func (n *jnode) kindName() string {
	switch n.kind {
	case jNull:
		return "null"
	case jBool:
		return "a boolean"
	case jNumber:
		return "a number"
	case jString:
		return "a string"
	case jArray:
		return "a list"
	}
	return "an object"
}

// decoder reads one JSON document into jnodes. Duplicate object members and
// nesting deeper than maxDepth are reported as problems.
type decoder struct {
	dec      *json.Decoder
	maxDepth int
	ps       *imprint.Problems
}

// decodeJSON parses s. It returns nil after adding a problem if s is not
// one JSON value or nests too deeply.
func decodeJSON(s string, maxDepth int, ps *imprint.Problems) *jnode {
	d := &decoder{dec: json.NewDecoder(strings.NewReader(s)), maxDepth: maxDepth, ps: ps}
	d.dec.UseNumber()
	n, err := d.value("", 0)
	if err == nil {
		if _, err = d.dec.Token(); err == io.EOF {
			return n
		}
		err = errors.New("unexpected data after the end of the JSON value")
	}
	if !errors.Is(err, errDepth) {
		ps.Add("", "invalid JSON: "+err.Error())
	}
	return nil
}

var errDepth = errors.New("too deep")

func (d *decoder) value(path string, depth int) (*jnode, error) {
	tok, err := d.dec.Token()
	if err == io.EOF {
		return nil, io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth >= d.maxDepth {
			d.ps.Add(path, "values nest deeper than "+itoa(d.maxDepth)+" levels")
			return nil, errDepth
		}
		if t == '{' {
			return d.object(path, depth+1)
		}
		return d.array(path, depth+1)
	case string:
		return &jnode{kind: jString, str: t}, nil
	case json.Number:
		return &jnode{kind: jNumber, str: string(t)}, nil
	case bool:
		if t {
			return &jnode{kind: jBool, str: "true"}, nil
		}
		return &jnode{kind: jBool, str: "false"}, nil
	}
	return &jnode{kind: jNull}, nil
}

func (d *decoder) object(path string, depth int) (*jnode, error) {
	n := &jnode{kind: jObject}
	var seen map[string]bool
	for d.dec.More() {
		tok, err := d.dec.Token()
		if err != nil {
			return nil, err
		}
		key := tok.(string) // the decoder guarantees a string key here
		if seen == nil && len(n.keys) >= 8 {
			seen = make(map[string]bool, 2*len(n.keys))
			for _, k := range n.keys {
				seen[k] = true
			}
		}
		if (seen != nil && seen[key]) || (seen == nil && n.member(key) != nil) {
			d.ps.Add(child(path, key), "the key appears more than once")
		}
		if seen != nil {
			seen[key] = true
		}
		v, err := d.value(child(path, key), depth)
		if err != nil {
			return nil, err
		}
		n.keys = append(n.keys, key)
		n.items = append(n.items, v)
	}
	_, err := d.dec.Token() // '}'
	return n, err
}

func (d *decoder) array(path string, depth int) (*jnode, error) {
	n := &jnode{kind: jArray}
	for d.dec.More() {
		v, err := d.value(index(path, len(n.items)), depth)
		if err != nil {
			return nil, err
		}
		n.items = append(n.items, v)
	}
	_, err := d.dec.Token() // ']'
	return n, err
}
