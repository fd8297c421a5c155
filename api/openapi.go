package api

import (
	_ "embed"
	"net/http"
)

// openAPISpec is the OpenAPI 3.1 description of the API. TestOpenAPI keeps it
// in step with routes.go.
//
//go:embed openapi.yaml
var openAPISpec []byte

// handleOpenAPI: GET /openapi.yaml, public.
func handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(openAPISpec)
}
