package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"

	"github.com/imprint-iot/imprint/api"
)

// The API tests talk to the server through specTransport, which checks every
// request they send and every response they get against openapi.yaml: a
// client generated from the spec must be able to send the one and read the
// other. A request a test makes invalid on purpose is marked with
// invalidRequest (env.doInvalid does); its response is checked all the same.

// specDoc is openapi.yaml loaded and validated once for all tests, with a
// router that finds the spec's operation for a request as chi routes it.
type specDoc struct {
	doc    *openapi3.T
	routes *chi.Mux
}

var loadSpecDoc = sync.OnceValues(func() (*specDoc, error) {
	data, err := os.ReadFile("openapi.yaml")
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("openapi.yaml is OpenAPI %s, want 3.1 (its schemas are JSON Schema 2020-12)", doc.OpenAPI)
	}
	mux := chi.NewMux()
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			mux.MethodFunc(method, path, func(http.ResponseWriter, *http.Request) {})
		}
	}
	return &specDoc{doc: doc, routes: mux}, nil
})

// route returns the spec's operation for the request and its path
// parameters, or an error if the spec has none.
func (s *specDoc) route(req *http.Request) (*routers.Route, map[string]string, error) {
	rctx := chi.NewRouteContext()
	pattern := s.routes.Find(rctx, req.Method, req.URL.EscapedPath())
	if pattern == "" {
		return nil, nil, fmt.Errorf("openapi.yaml describes no operation %s %s", req.Method, req.URL.Path)
	}
	item := s.doc.Paths.Value(pattern)
	params := map[string]string{}
	for i, key := range rctx.URLParams.Keys {
		v, err := url.PathUnescape(rctx.URLParams.Values[i])
		if err != nil {
			v = rctx.URLParams.Values[i]
		}
		params[key] = v
	}
	return &routers.Route{Spec: s.doc, Path: pattern, PathItem: item, Method: req.Method,
		Operation: item.GetOperation(req.Method)}, params, nil
}

type invalidRequestKey struct{}

// invalidRequest marks the requests made with ctx as invalid on purpose:
// specTransport does not check them against the spec, only their responses.
func invalidRequest(ctx context.Context) context.Context {
	return context.WithValue(ctx, invalidRequestKey{}, true)
}

// specTransport is an http.RoundTripper that checks each request and
// response against openapi.yaml and reports every mismatch.
type specTransport struct {
	base   http.RoundTripper
	report func(format string, args ...any)
}

func (st specTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	report := func(format string, args ...any) { st.report(format+" (sent from %s)", append(args, testCaller())...) }
	spec, err := loadSpecDoc()
	if err != nil {
		return nil, err
	}
	var reqBody []byte
	if req.Body != nil && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		reqBody, _ = io.ReadAll(body)
		body.Close()
	}
	resp, err := st.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	route, params, routeErr := spec.route(req)
	checkRequest := req.Context().Value(invalidRequestKey{}) == nil
	if routeErr != nil {
		// Only a request bad on purpose may miss the spec; it must get the
		// 404 or 405 Error that the spec's description promises.
		if checkRequest || (resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed) {
			report("openapi.yaml: %s %s answered %d: %v", req.Method, req.URL.Path, resp.StatusCode, routeErr)
			return resp, nil
		}
		respBody, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(respBody))
		if err != nil {
			return nil, err
		}
		if err := checkErrorBody(spec, resp, respBody); err != nil {
			report("openapi.yaml: %s %s answered %d: %v", req.Method, req.URL.Path, resp.StatusCode, err)
		}
		return resp, nil
	}
	op := fmt.Sprintf("%s %s (%s)", req.Method, route.Path, route.Operation.OperationID)
	input := &openapi3filter.RequestValidationInput{
		Request: req.Clone(req.Context()), PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			MultiError: true, IncludeResponseStatus: true},
	}
	input.Request.Body = io.NopCloser(bytes.NewReader(reqBody))
	if checkRequest {
		if err := checkSpecRequest(req.Context(), input, route, reqBody); err != nil {
			report("openapi.yaml: %s: the request does not match the spec (send it with doInvalid if it is bad on purpose): %v",
				op, err)
		}
	}
	if isStream(resp.Header) {
		// An endless body: only the status and the content type.
		if err := checkSpecResponseHead(route, resp); err != nil {
			report("openapi.yaml: %s answered %d: %v", op, resp.StatusCode, err)
		}
		return resp, nil
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err != nil {
		return nil, err
	}
	if err := checkSpecResponse(req.Context(), input, resp, respBody); err != nil {
		report("openapi.yaml: %s answered %d: %v\nbody: %.600s", op, resp.StatusCode, err, respBody)
	}
	return resp, nil
}

// checkErrorBody checks that an answer is JSON in the shape of the spec's
// Error schema.
func checkErrorBody(spec *specDoc, resp *http.Response, body []byte) error {
	if ct := mediaType(resp.Header.Get("Content-Type")); ct != "application/json" {
		return fmt.Errorf("content type %q, want application/json", ct)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	return spec.doc.Components.Schemas["Error"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020())
}

// checkSpecRequest checks the request's parameters, and its body if it is
// JSON; of another body, only that the spec lists its content type.
func checkSpecRequest(ctx context.Context, input *openapi3filter.RequestValidationInput, route *routers.Route, body []byte) error {
	ct := mediaType(input.Request.Header.Get("Content-Type"))
	opts := *input.Options
	in := *input
	in.Options = &opts
	if len(body) > 0 && !isJSON(ct) {
		rb := route.Operation.RequestBody
		if rb == nil || rb.Value.Content.Get(ct) == nil {
			return fmt.Errorf("request body of content type %q is not in the spec", ct)
		}
		opts.ExcludeRequestBody = true
	}
	if len(body) == 0 && route.Operation.RequestBody == nil {
		opts.ExcludeRequestBody = true
	}
	if len(body) > 0 && route.Operation.RequestBody == nil {
		return errors.New("the request has a body, but the spec describes none")
	}
	return openapi3filter.ValidateRequest(ctx, &in)
}

// checkSpecResponse checks that the spec lists the response's status, with
// its headers and content type, and that a JSON body matches the schema.
func checkSpecResponse(ctx context.Context, input *openapi3filter.RequestValidationInput, resp *http.Response, body []byte) error {
	opts := *input.Options
	ct := mediaType(resp.Header.Get("Content-Type"))
	if len(body) > 0 && !isJSON(ct) {
		if err := checkSpecResponseHead(input.Route, resp); err != nil {
			return err
		}
		opts.ExcludeResponseBody = true
	}
	err := openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: &opts,
	})
	if err != nil || opts.ExcludeResponseBody || len(body) == 0 {
		return err
	}
	ref := input.Route.Operation.Responses.Status(resp.StatusCode)
	mt := ref.Value.Content.Get(ct)
	if mt == nil || mt.Schema == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	var extra []string
	undocumentedFields(mt.Schema.Value, v, "", &extra)
	if len(extra) > 0 {
		return fmt.Errorf("the response has fields the schema does not describe: %s", strings.Join(extra, ", "))
	}
	return nil
}

// undocumentedFields appends to out the JSON pointers of v's object members
// that schema s does not describe: a client generated from the spec would
// not see them. An object schema describes its properties (and those of its
// allOf members); one with additionalProperties, or without properties,
// takes any member. Of anyOf and oneOf, the branches v matches are followed.
func undocumentedFields(s *openapi3.Schema, v any, at string, out *[]string) {
	if s == nil {
		return
	}
	for _, branches := range []openapi3.SchemaRefs{s.AnyOf, s.OneOf} {
		for _, b := range branches {
			if b.Value != nil && b.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()) == nil {
				undocumentedFields(b.Value, v, at, out)
			}
		}
	}
	switch v := v.(type) {
	case []any:
		if s.Items != nil {
			for i, item := range v {
				undocumentedFields(s.Items.Value, item, fmt.Sprintf("%s/%d", at, i), out)
			}
		}
	case map[string]any:
		props := map[string]*openapi3.Schema{}
		declaredProperties(s, props)
		addl := s.AdditionalProperties
		for _, k := range slices.Sorted(maps.Keys(v)) {
			switch ps, ok := props[k]; {
			case ok:
				undocumentedFields(ps, v[k], at+"/"+k, out)
			case addl.Schema != nil:
				undocumentedFields(addl.Schema.Value, v[k], at+"/"+k, out)
			case addl.Has == nil && len(props) > 0:
				*out = append(*out, at+"/"+k)
			}
		}
	}
}

// declaredProperties adds the properties of s and of its allOf members to props.
func declaredProperties(s *openapi3.Schema, props map[string]*openapi3.Schema) {
	for name, p := range s.Properties {
		if p != nil && props[name] == nil {
			props[name] = p.Value
		}
	}
	for _, m := range s.AllOf {
		if m.Value != nil {
			declaredProperties(m.Value, props)
		}
	}
}

// checkSpecResponseHead checks that the spec lists the response's status and
// content type.
func checkSpecResponseHead(route *routers.Route, resp *http.Response) error {
	ref := route.Operation.Responses.Status(resp.StatusCode)
	if ref == nil {
		return errors.New("status is not listed in the spec")
	}
	ct := mediaType(resp.Header.Get("Content-Type"))
	if ref.Value.Content.Get(ct) == nil {
		return fmt.Errorf("content type %q is not listed in the spec for this status", ct)
	}
	return nil
}

// testCaller returns the file and line of the test code that sent the
// request: the first caller outside the HTTP client and this harness.
func testCaller() string {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		file := filepath.Base(f.File)
		fn := strings.TrimPrefix(f.Function, "github.com/imprint-iot/imprint/api_test.")
		if strings.HasSuffix(file, "_test.go") && fn != "testCaller" && !strings.HasPrefix(fn, "specTransport.") &&
			!strings.HasPrefix(fn, "(*env).") {
			return fmt.Sprintf("%s:%d", file, f.Line)
		}
		if !more {
			return "an unknown caller"
		}
	}
}

func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ct
	}
	return mt
}

func isJSON(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

func isStream(h http.Header) bool { return mediaType(h.Get("Content-Type")) == "text/event-stream" }

// TestSpecTransport checks that the checker catches what it is there for:
// a request or a response the spec does not describe.
func TestSpecTransport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, path string
		body               string
		invalid            bool
		status             int
		respCT, respBody   string
		want               string // in the report; "" for none
	}{
		{"valid", "GET", "/healthz", "", false, 200, "application/json", `{"status":"ok"}`, ""},
		{"body off schema", "GET", "/healthz", "", false, 200, "application/json", `{"status":"ko"}`, "status"},
		{"status not listed", "GET", "/healthz", "", false, 418, "application/json", `{}`, "status is not supported"},
		{"no such operation", "GET", "/nowhere", "", false, 404, "application/json", `{}`, "describes no operation"},
		{"invalid on purpose, no such operation", "GET", "/nowhere", "", true, 404, "application/json",
			`{"error":{"code":"not_found","message":"no such endpoint"}}`, ""},
		{"invalid on purpose, no such operation, not an Error", "GET", "/nowhere", "", true, 404, "application/json", `{}`, "error"},
		{"invalid on purpose, no such operation, 200", "GET", "/nowhere", "", true, 200, "application/json", `{}`, "describes no operation"},
		{"error body off schema", "POST", "/v1/cas", `{"name":"x"}`, false, 400, "application/json", `{"error":"x"}`, "error"},
		{"request off schema", "POST", "/v1/cas", `{"name":42}`, false, 400, "application/json",
			`{"error":{"code":"invalid","message":"x"}}`, "request does not match"},
		{"request off schema on purpose", "POST", "/v1/cas", `{"name":42}`, true, 400, "application/json",
			`{"error":{"code":"invalid","message":"x"}}`, ""},
		{"response off schema for a bad request", "POST", "/v1/cas", `{"name":42}`, true, 400, "application/json",
			`{"error":{"code":"invalid"}}`, "message"},
		{"undocumented field", "GET", "/healthz", "", false, 200, "application/json", `{"status":"ok","uptime":3}`, "/uptime"},
		{"binary content type not listed", "GET", "/ca/" + strings.Repeat("ab", 32) + ".crt", "", false, 200, "text/html", `<html>`, `content type "text/html"`},
		{"binary content type listed", "GET", "/ca/" + strings.Repeat("ab", 32) + ".crt", "", false, 200, "application/pkix-cert", "\x30\x00", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reports []string
			st := specTransport{
				base: roundTripFunc(func(*http.Request) (*http.Response, error) {
					return &http.Response{StatusCode: tt.status, Header: http.Header{"Content-Type": {tt.respCT}},
						Body: io.NopCloser(strings.NewReader(tt.respBody))}, nil
				}),
				report: func(format string, args ...any) { reports = append(reports, fmt.Sprintf(format, args...)) },
			}
			ctx := context.Background()
			if tt.invalid {
				ctx = invalidRequest(ctx)
			}
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, _ := http.NewRequestWithContext(ctx, tt.method, "http://imprint.test"+tt.path, body)
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			req.Header.Set("Authorization", "Bearer x")
			if _, err := st.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			got := strings.Join(reports, "\n")
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("reports = %q, want one containing %q", got, tt.want)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSpecErrorAnswers sends every operation the router serves an empty
// request naming malformed IDs, without a token and with each role's, and
// one with a malformed and one with an oversized body, and checks the
// answers (401, 403, 400, 404, 413...) against openapi.yaml: each operation
// lists the errors it can answer, with the Error body.
func TestSpecErrorAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	oversized := `{"x":"` + strings.Repeat("a", api.MaxBodySize) + `"}`
	for _, op := range mustServedOperations(t, e.handler) {
		method, path, _ := strings.Cut(op, " ")
		path = pathParamRE.ReplaceAllString(path, "x")
		for _, token := range []string{"", e.admin, e.factory, e.auditor} {
			if op == "GET /v1/events/stream" && token != "" {
				continue // an endless answer; TestEventsListAndStream reads it
			}
			e.doInvalid(method, path, token, nil)
		}
		if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
			e.doInvalid(method, path, e.admin, "{")
			e.doInvalid(method, path, e.admin, oversized)
		}
	}
}

// TestSpecSuccessAnswers drives, through the checked client, the successful
// answers of the operations the other tests only reach with errors.
func TestSpecSuccessAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var cas struct{ CAs []struct{ CAID string } }
	e.do("GET", "/v1/cas", e.auditor, nil).json(t, &cas)
	if len(cas.CAs) == 0 {
		t.Fatal("GET /v1/cas listed no CA")
	}
	c := e.issueOne("spec-1")
	var line struct{ CAID string }
	e.do("POST", "/v1/cas", e.admin, map[string]string{"name": "spec-line"}).json(t, &line)
	steps := []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", "/v1/cas/" + cas.CAs[0].CAID, nil, 200},
		{"PATCH", "/v1/cas/" + line.CAID, map[string]string{"status": "inactive"}, 200}, // any case
		{"PATCH", "/v1/cas/" + line.CAID, map[string]string{"status": "", "provisioningTemplate": ""}, 200},
		{"POST", "/v1/provisioning-templates", map[string]any{"name": "spec", "type": "JITP", "body": jitpBody}, 201},
		{"GET", "/v1/provisioning-templates/spec", nil, 200},
		{"GET", "/v1/provisioning-templates/spec/versions/1", nil, 200},
		{"POST", "/v1/thing-types", map[string]string{"thingTypeName": "sensor"}, 201},
		{"GET", "/v1/thing-types/sensor", nil, 200},
		{"POST", "/v1/things", map[string]any{"thingName": "dev-1", "thingTypeName": "sensor"}, 201},
		{"PUT", "/v1/things/dev-1/principals/" + c.CertificateID + "?type=EXCLUSIVE_THING", nil, 204},
		{"GET", "/v1/things/dev-1/principals", nil, 200},
		{"POST", "/v1/thing-groups", map[string]string{"thingGroupName": "plant"}, 201},
		{"PUT", "/v1/thing-groups/plant/things/dev-1", nil, 204},
		{"GET", "/v1/thing-groups/plant", nil, 200},
		{"DELETE", "/v1/thing-groups/plant/things/dev-1", nil, 204},
		{"DELETE", "/v1/thing-groups/plant", nil, 204},
	}
	for _, s := range steps {
		if r := e.do(s.method, s.path, e.admin, s.body); r.status != s.status {
			t.Errorf("%s %s = %d %s, want %d", s.method, s.path, r.status, r.body, s.status)
		}
	}
}
