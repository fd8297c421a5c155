package api

import (
	_ "embed"
	"net/http"
)

// openAPISpec is the OpenAPI 3.1 description of the API. TestOpenAPI keeps it
// in step with the routes.
//
//go:embed openapi.yaml
var openAPISpec []byte

// HandleOpenAPI serves openapi.yaml, the description of the API and the PKI
// endpoints: GET /openapi.yaml, public.
func HandleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(openAPISpec)
}
