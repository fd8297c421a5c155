package templates

// The Conditions section, the Condition attribute of resources, Fn::If and
// the condition functions are Imprint extensions. AWS IoT's template
// language gives none of these names a meaning, so a template written for
// AWS IoT never uses them and evaluates the same in Imprint.

// condOp is the operation of a condition node.
type condOp uint8

const (
	condEquals condOp = iota // a, b
	condNot                  // args[0]
	condAnd                  // args
	condOr                   // args
	condRef                  // ref: another condition
)

// condExpr is a compiled condition.
type condExpr struct {
	op   condOp
	a, b *expr
	args []*condExpr
	ref  int
	path string
}

// condition is a named condition of the Conditions section.
type condition struct {
	name string
	path string
	e    *condExpr
}

// maxConditionArgs bounds the operands of Fn::And and Fn::Or, as in the
// AWS template languages that have them.
const maxConditionArgs = 10

func (c *compiler) conditions(n *jnode, path string) {
	if n.kind != jObject {
		c.ps.Add(path, "must be an object of named conditions, not "+n.kindName())
		return
	}
	for i, name := range n.keys { // names first: conditions may refer to later ones
		c.condIndex[name] = i
		c.t.conds = append(c.t.conds, &condition{name: name, path: child(path, name)})
	}
	c.inConditions = true
	for i, cd := range c.t.conds {
		cd.e = c.condExpr(n.items[i], cd.path)
	}
	c.inConditions = false
	c.checkConditionCycles()
}

func (c *compiler) condExpr(n *jnode, path string) *condExpr {
	if !isFunction(n) {
		c.ps.Add(path, "a condition is an object with one of Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition")
		return nil
	}
	name, arg := n.keys[0], n.items[0]
	fpath := child(path, name)
	switch name {
	case "Fn::Equals":
		a := c.args(arg, fpath, name, "two values to compare", 2)
		if a == nil {
			return nil
		}
		x, y := c.stringExpr(a[0], index(fpath, 0), false), c.stringExpr(a[1], index(fpath, 1), false)
		if x == nil || y == nil {
			return nil
		}
		return &condExpr{op: condEquals, a: x, b: y, path: fpath}
	case "Fn::Not":
		a := c.args(arg, fpath, name, "one condition", 1)
		if a == nil {
			return nil
		}
		if x := c.condExpr(a[0], index(fpath, 0)); x != nil {
			return &condExpr{op: condNot, args: []*condExpr{x}, path: fpath}
		}
		return nil
	case "Fn::And", "Fn::Or":
		return c.condList(name, arg, fpath)
	case "Condition":
		if i := c.conditionName(arg, fpath); i >= 0 {
			return &condExpr{op: condRef, ref: i, path: fpath}
		}
		return nil
	}
	c.ps.Add(fpath, "unknown condition function "+quote(name)+"; use Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition")
	return nil
}

func (c *compiler) condList(name string, arg *jnode, path string) *condExpr {
	if arg.kind != jArray || len(arg.items) < 2 || len(arg.items) > maxConditionArgs {
		c.ps.Add(path, name+" takes a list of 2 to 10 conditions")
		return nil
	}
	e := &condExpr{op: condAnd, path: path}
	if name == "Fn::Or" {
		e.op = condOr
	}
	for i, item := range arg.items {
		x := c.condExpr(item, index(path, i))
		if x == nil {
			return nil
		}
		e.args = append(e.args, x)
	}
	return e
}

// conditionName resolves the name of a condition; it returns -1 after
// adding a problem.
func (c *compiler) conditionName(n *jnode, path string) int {
	if n.kind != jString {
		c.ps.Add(path, "must be the name of a condition (a string), not "+n.kindName())
		return -1
	}
	i, ok := c.condIndex[n.str]
	if !ok {
		c.ps.Add(path, "no condition named "+quote(n.str)+" in Conditions")
		return -1
	}
	return i
}

// checkConditionCycles reports conditions that depend on themselves.
func (c *compiler) checkConditionCycles() {
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]uint8, len(c.t.conds))
	var visit func(i int) bool
	var walk func(e *condExpr) bool
	walk = func(e *condExpr) bool {
		if e == nil {
			return true
		}
		if e.op == condRef {
			return visit(e.ref)
		}
		for _, a := range e.args {
			if !walk(a) {
				return false
			}
		}
		return true
	}
	visit = func(i int) bool {
		switch state[i] {
		case visiting:
			return false
		case done:
			return true
		}
		state[i] = visiting
		ok := walk(c.t.conds[i].e)
		state[i] = done
		return ok
	}
	for i, cd := range c.t.conds {
		if state[i] == unvisited && !visit(i) {
			c.ps.Add(cd.path, "the condition depends on itself")
			cd.e = nil
		}
	}
}

// condition evaluates the named condition i once per evaluation.
func (ev *evaluator) condition(i int) bool {
	state := ev.condState(i)
	switch *state {
	case condFalse:
		return false
	case condTrue:
		return true
	}
	v := ev.condExpr(ev.t.conds[i].e)
	*state = condFalse
	if v {
		*state = condTrue
	}
	return v
}

// The states of a condition in one evaluation.
const (
	condUnknown uint8 = iota
	condFalse
	condTrue
)

// condState returns where the state of condition i is kept. The first
// conditions' states live in the evaluator itself, which stays on the
// stack; there is no pointer to itself in it.
func (ev *evaluator) condState(i int) *uint8 {
	if i < len(ev.conds) {
		return &ev.conds[i]
	}
	if ev.moreConds == nil {
		ev.moreConds = make([]uint8, len(ev.t.conds)-len(ev.conds))
	}
	return &ev.moreConds[i-len(ev.conds)]
}

func (ev *evaluator) condExpr(e *condExpr) bool {
	if e == nil {
		return false
	}
	switch e.op {
	case condEquals:
		a, b := ev.eval(e.a), ev.eval(e.b)
		return a.kind == kString && b.kind == kString && a.s == b.s
	case condNot:
		return !ev.condExpr(e.args[0])
	case condAnd:
		for _, a := range e.args {
			if !ev.condExpr(a) {
				return false
			}
		}
		return true
	case condOr:
		for _, a := range e.args {
			if ev.condExpr(a) {
				return true
			}
		}
		return false
	}
	return ev.condition(e.ref)
}

// included reports whether a resource with the condition cond (-1 for
// none) is part of this evaluation.
func (ev *evaluator) included(cond int) bool {
	return cond < 0 || ev.condition(cond)
}
