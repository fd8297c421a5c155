package api_test

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestDocsRoles checks the table of operations and roles in docs/api.md
// against openapi.yaml, both ways: every operation of the spec is in the
// table with its x-roles (or `public` for `security: []`), and the table
// names no other operation.
func TestDocsRoles(t *testing.T) {
	t.Parallel()
	spec := mustReadSpecOperations(t, mustSpec(t))
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	table, err := readDocsRoles(doc)
	if err != nil {
		t.Fatalf("docs/api.md: %v", err)
	}
	for op, want := range spec {
		got, ok := table[op]
		switch {
		case !ok:
			t.Errorf("docs/api.md: %s is in openapi.yaml but not in the roles table; add the row | `%s` | %s |",
				op, op, want.cell())
		case want.public != got.public || !slices.Equal(sortedRoles(want.roles), sortedRoles(got.roles)):
			t.Errorf("docs/api.md: %s roles = %s, want %s as in openapi.yaml", op, got, want)
		}
	}
	for op := range table {
		if _, ok := spec[op]; !ok {
			t.Errorf("docs/api.md: %s is in the roles table but not in openapi.yaml", op)
		}
	}
}

// TestReadDocsRoles checks the reader of the roles table, including that it
// refuses rows it cannot read rather than skip them.
func TestReadDocsRoles(t *testing.T) {
	t.Parallel()
	const doc = "# API\n\n| role | may |\n| --- | --- |\n| `admin` | everything |\n\n" +
		"| operation | roles |\n| --- | --- |\n" +
		"| `GET /healthz` | public |\n" +
		"| `POST /v1/certificates` | admin, factory |\n" +
		"| `GET /v1/cas/{id}` | admin,factory , auditor |\n" +
		"\nAfter the table.\n| `GET /not/read` | admin |\n"
	got, err := readDocsRoles([]byte(doc))
	if err != nil {
		t.Fatalf("readDocsRoles() error = %v", err)
	}
	want := map[string]specOperation{
		"GET /healthz":          {public: true},
		"POST /v1/certificates": {roles: []string{"admin", "factory"}},
		"GET /v1/cas/{id}":      {roles: []string{"admin", "factory", "auditor"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readDocsRoles() = %v, want %v", got, want)
	}
	const head = "| operation | roles |\n| --- | --- |\n"
	for _, bad := range []string{
		"no table here\n",
		head,
		head + "| GET /healthz | public |\n",          // not code
		head + "| `GET` | public |\n",                 // no path
		head + "| `get /healthz` | public |\n",        // not a method
		head + "| `GET /healthz` | |\n",               // no roles
		head + "| `GET /healthz` | admin, root |\n",   // no such role
		head + "| `GET /healthz` | public, admin |\n", // both
		head + "| `GET /healthz` | admin, admin |\n",  // twice
		head + "| `GET /a` | admin |\n| `GET /a` | admin |\n",
		head + "| `GET /a` | admin | extra |\n",
	} {
		if _, err := readDocsRoles([]byte(bad)); err == nil {
			t.Errorf("readDocsRoles(%q) error = nil, want one", bad)
		}
	}
}

// readDocsRoles reads the table of docs/api.md whose header is
// "| operation | roles |": one row per operation, "| `METHOD /path` | roles |",
// the roles a comma-separated list of admin, factory and auditor, or
// `public` for an operation that needs no token. Operations are keyed as
// readSpecOperations keys them.
func readDocsRoles(doc []byte) (map[string]specOperation, error) {
	lines := strings.Split(string(doc), "\n")
	start := slices.Index(lines, "| operation | roles |")
	if start < 0 || start+1 >= len(lines) || lines[start+1] != "| --- | --- |" {
		return nil, fmt.Errorf(`no table with the header "| operation | roles |" and "| --- | --- |" under it`)
	}
	ops := map[string]specOperation{}
	for i := start + 2; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
		cells := strings.Split(strings.Trim(lines[i], "| "), "|")
		if len(cells) != 2 {
			return nil, fmt.Errorf("line %d: %q: want two cells, the operation and its roles", i+1, lines[i])
		}
		op, ok := strings.CutPrefix(strings.TrimSpace(cells[0]), "`")
		if op, ok = strings.CutSuffix(op, "`"); !ok {
			return nil, fmt.Errorf("line %d: %q: want the operation as code, such as `GET /v1/cas`", i+1, lines[i])
		}
		method, path, _ := strings.Cut(op, " ")
		if !slices.Contains(httpMethods, strings.ToLower(method)) || method != strings.ToUpper(method) ||
			!strings.HasPrefix(path, "/") || strings.Contains(path, " ") {
			return nil, fmt.Errorf("line %d: %q: want an upper-case method and a path, such as `GET /v1/cas`", i+1, op)
		}
		if _, dup := ops[op]; dup {
			return nil, fmt.Errorf("line %d: %s is in the table twice", i+1, op)
		}
		o := specOperation{roles: []string{}}
		for r := range strings.SplitSeq(cells[1], ",") {
			switch r = strings.TrimSpace(r); r {
			case "admin", "factory", "auditor":
				if slices.Contains(o.roles, r) {
					return nil, fmt.Errorf("line %d: %s names %s twice", i+1, op, r)
				}
				o.roles = append(o.roles, r)
			case "public":
				o.public = true
			default:
				return nil, fmt.Errorf("line %d: %s: role %q: want admin, factory, auditor or public", i+1, op, r)
			}
		}
		if o.public == (len(o.roles) > 0) {
			return nil, fmt.Errorf("line %d: %s: want either public or a list of roles", i+1, op)
		}
		if o.public {
			o.roles = nil
		}
		ops[op] = o
	}
	if len(ops) == 0 {
		return nil, fmt.Errorf("the roles table has no rows")
	}
	return ops, nil
}

func sortedRoles(roles []string) []string {
	return slices.Sorted(slices.Values(roles))
}

func (o specOperation) String() string {
	if o.public {
		return "public"
	}
	return "[" + strings.Join(o.roles, ", ") + "]"
}

// cell is the roles cell of the operation's row in docs/api.md.
func (o specOperation) cell() string {
	if o.public {
		return "public"
	}
	return strings.Join(o.roles, ", ")
}
