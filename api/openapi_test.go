package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/imprint-iot/imprint"
)

// TestOpenAPIOperations checks that openapi.yaml describes every operation
// the router serves, and nothing else.
func TestOpenAPIOperations(t *testing.T) {
	t.Parallel()
	spec := mustReadSpecOperations(t, mustSpec(t))
	served := mustServedOperations(t, mustProbeHandler(t, nil))
	for _, op := range served {
		if _, ok := spec[op]; !ok {
			t.Errorf("%s is served but missing from openapi.yaml", op)
		}
	}
	for op := range spec {
		if !slices.Contains(served, op) {
			t.Errorf("%s is in openapi.yaml but not served", op)
		}
	}
}

// TestOpenAPIServed checks that GET /openapi.yaml answers the embedded spec.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	mustProbeHandler(t, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/yaml" {
		t.Errorf("GET /openapi.yaml = %d %q, want 200 \"application/yaml\"", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !bytes.Equal(rec.Body.Bytes(), mustSpec(t)) {
		t.Errorf("GET /openapi.yaml body differs from openapi.yaml")
	}
}

// TestOpenAPIRoles checks each operation's security in openapi.yaml against
// what the router enforces: public operations have `security: []` and answer
// without a token; every /v1 operation answers 401 without one, and its
// `x-roles` are exactly the roles whose tokens get past requireRole (any
// status but 401 and 403; the probe requests are empty or name malformed
// IDs, so handlers refuse them before they could answer 403 themselves).
func TestOpenAPIRoles(t *testing.T) {
	t.Parallel()
	spec := mustReadSpecOperations(t, mustSpec(t))
	bearers := map[imprint.Role]string{}
	h := mustProbeHandler(t, bearers)
	for _, op := range mustServedOperations(t, h) {
		t.Run(op, func(t *testing.T) {
			method, path, _ := strings.Cut(op, " ")
			want, ok := spec[op]
			if !ok {
				return // not in openapi.yaml: TestOpenAPIOperations fails for it
			}
			anonymous := probe(h, method, path, "")
			if !strings.HasPrefix(path, "/v1/") {
				if !want.public || want.roles != nil {
					t.Errorf("openapi.yaml: public operation has security: [] = %v and x-roles %q, want true and none",
						want.public, want.roles)
				}
				if anonymous == http.StatusUnauthorized || anonymous == http.StatusForbidden {
					t.Errorf("without a token: status = %d, want neither 401 nor 403", anonymous)
				}
				return
			}
			if want.public {
				t.Errorf("openapi.yaml: %s has security: [], but /v1 operations need a token", op)
			}
			if anonymous != http.StatusUnauthorized {
				t.Errorf("without a token: status = %d, want 401", anonymous)
			}
			var got []string
			for _, role := range []imprint.Role{imprint.RoleAdmin, imprint.RoleFactory, imprint.RoleAuditor} {
				status := probe(h, method, path, bearers[role])
				if status != http.StatusUnauthorized && status != http.StatusForbidden {
					got = append(got, string(role))
				}
			}
			slices.Sort(got)
			wantRoles := slices.Sorted(slices.Values(want.roles))
			if !slices.Equal(got, wantRoles) {
				t.Errorf("roles let through = %q, want x-roles %q", got, wantRoles)
			}
		})
	}
}

// TestReadSpecOperations checks the little reader TestOpenAPI relies on,
// including that it fails rather than guesses on what it does not know.
func TestReadSpecOperations(t *testing.T) {
	t.Parallel()
	const doc = `openapi: 3.1.0
info:
  description: |
    paths:
      /not/a/path:
paths:
  /a:
    description: |
      security: []
      x-roles: [admin]
    get:
      security: []
      responses:
        "200":
          description: x-roles are not read here
    post:
      x-roles: [admin, factory]
  "/b/{id}":
    delete:
      x-roles: []
components:
  schemas: {}
`
	got, err := readSpecOperations([]byte(doc))
	if err != nil {
		t.Fatalf("readSpecOperations() error = %v", err)
	}
	want := map[string]specOperation{
		"GET /a":         {public: true},
		"POST /a":        {roles: []string{"admin", "factory"}},
		"DELETE /b/{id}": {roles: []string{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readSpecOperations() = %v, want %v", got, want)
	}
	for _, bad := range []string{
		"paths:\n  /a:\n    get:\n      x-roles:\n        - admin\n",
		"paths:\n  /a:\n    get:\n      security:\n        - bearerAuth: []\n",
		"paths:\n  /a:\n    get: {}\n    get: {}\n",
		"paths:\n  a:\n",
	} {
		if _, err := readSpecOperations([]byte(bad)); err == nil {
			t.Errorf("readSpecOperations(%q) error = nil, want one", bad)
		}
	}
}

// specOperation is what the tests read of one operation in openapi.yaml.
type specOperation struct {
	roles  []string // x-roles; nil if absent
	public bool     // security: []
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// readSpecOperations reads the operations under `paths:` of an OpenAPI
// document written as openapi.yaml is: block style, two-space indentation,
// paths at indent 2, methods at 4, their fields at 6, x-roles as a flow
// sequence. The module has no YAML parser and the tests need no more; the
// reader returns an error for what it does not know rather than guess.
// Operations are keyed "METHOD /path", as chi.Walk names routes.
func readSpecOperations(spec []byte) (map[string]specOperation, error) {
	ops := map[string]specOperation{}
	var (
		inPaths     bool
		path, op    string
		blockIndent = -1 // indent of the key whose block scalar is being skipped
	)
	for i, line := range strings.Split(string(spec), "\n") {
		trimmed := strings.TrimSpace(line)
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if blockIndent >= 0 && (trimmed == "" || indent > blockIndent) {
			continue
		}
		blockIndent = -1
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		key, value, _ := strings.Cut(trimmed, ":")
		if q := trimmed[0]; q == '"' || q == '\'' { // a quoted key may hold colons
			if end := strings.IndexByte(trimmed[1:], q); end >= 0 {
				if rest, ok := strings.CutPrefix(trimmed[end+2:], ":"); ok {
					key, value = trimmed[1:end+1], rest
				}
			}
		}
		key, value = strings.Trim(key, `"'`), strings.TrimSpace(value)
		if strings.HasPrefix(value, "|") || strings.HasPrefix(value, ">") {
			blockIndent = indent
		}
		if indent == 0 {
			inPaths = trimmed == "paths:"
			continue
		}
		if !inPaths {
			continue
		}
		switch {
		case indent == 2:
			if !strings.HasPrefix(key, "/") || value != "" {
				return nil, fmt.Errorf("line %d: %q: want a path such as \"/v1/cas:\"", i+1, trimmed)
			}
			path, op = key, ""
		case indent == 4:
			op = ""
			if slices.Contains(httpMethods, key) {
				op = strings.ToUpper(key) + " " + path
				if _, dup := ops[op]; dup {
					return nil, fmt.Errorf("line %d: %s is described twice", i+1, op)
				}
				ops[op] = specOperation{}
			}
		case indent == 6 && op != "":
			o := ops[op]
			switch key {
			case "x-roles":
				list, ok := strings.CutPrefix(value, "[")
				if list, ok = strings.CutSuffix(list, "]"); !ok {
					return nil, fmt.Errorf("line %d: %s: want x-roles as a flow sequence such as [admin, factory]", i+1, op)
				}
				o.roles = []string{}
				for r := range strings.SplitSeq(list, ",") {
					if r = strings.TrimSpace(r); r != "" {
						o.roles = append(o.roles, r)
					}
				}
			case "security":
				if value != "[]" {
					return nil, fmt.Errorf("line %d: %s: only `security: []` may be set per operation", i+1, op)
				}
				o.public = true
			}
			ops[op] = o
		}
	}
	if len(ops) == 0 {
		return nil, fmt.Errorf("no operations under paths:")
	}
	return ops, nil
}

func mustReadSpecOperations(tb testing.TB, spec []byte) map[string]specOperation {
	tb.Helper()
	ops, err := readSpecOperations(spec)
	if err != nil {
		tb.Fatalf("read openapi.yaml: %v", err)
	}
	return ops
}

// mustServedOperations returns every route of h as "METHOD /path", sorted.
func mustServedOperations(tb testing.TB, h http.Handler) []string {
	tb.Helper()
	routes, ok := h.(chi.Routes)
	if !ok {
		tb.Fatalf("NewHandler() is a %T, want a chi router", h)
	}
	var ops []string
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		ops = append(ops, method+" "+route)
		return nil
	})
	if err != nil {
		tb.Fatalf("chi.Walk() error = %v", err)
	}
	slices.Sort(ops)
	return ops
}

// mustProbeHandler returns the API on a fresh database and CA, with one token
// per role, whose bearer strings it puts in bearers (if not nil).
func mustProbeHandler(t *testing.T, bearers map[imprint.Role]string) http.Handler {
	t.Helper()
	e := newEnv(t)
	if bearers != nil {
		bearers[imprint.RoleAdmin], bearers[imprint.RoleFactory], bearers[imprint.RoleAuditor] = e.admin, e.factory, e.auditor
	}
	return e.handler
}

var pathParamRE = regexp.MustCompile(`\{[^}]+\}`)

// probe sends an empty request to the route pattern path, its parameters
// filled with a malformed ID, and returns the status of the answer.
func probe(h http.Handler, method, path, bearer string) int {
	// Long-lived answers (the event stream) end with the request's context.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, method, pathParamRE.ReplaceAllString(path, "x"), nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func mustSpec(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
