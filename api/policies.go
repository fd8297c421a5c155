package api

import (
	"github.com/go-chi/chi/v5"
)

// PolicyStore keeps IoT policies, their versions and attachments.
type PolicyStore interface {
}

// policyRoutes mounts policies and authorization under /v1.
func (s *server) policyRoutes(r chi.Router) {
}
