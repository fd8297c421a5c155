package api

import (
	"github.com/go-chi/chi/v5"
)

// RegistryStore keeps things, thing types, thing groups and principals.
type RegistryStore interface {
}

// registryRoutes mounts the registry under /v1.
func (s *server) registryRoutes(r chi.Router) {
}
