package imprint

import (
	"context"
	"time"
)

// Role is what an API token may do.
type Role string

// The roles. Admins may do everything; factories issue certificates;
// auditors read.
const (
	RoleAdmin   Role = "admin"
	RoleFactory Role = "factory"
	RoleAuditor Role = "auditor"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	return r == RoleAdmin || r == RoleFactory || r == RoleAuditor
}

// Token is an API token as stored: its secret is kept only as a SHA-256 hash.
type Token struct {
	ID         string
	Name       string
	Role       Role
	Hash       []byte // SHA-256 of the secret
	CreatedAt  time.Time
	LastUsedAt time.Time // zero if never used
}

// Actor is who performs a request; audit events record it.
type Actor struct {
	TokenID string
	Name    string
	Role    Role
}

// SystemActor is the actor of changes Imprint makes on its own (first start,
// command-line administration).
var SystemActor = Actor{Name: "system", Role: RoleAdmin}

type actorKey struct{}

// NewContextWithActor returns a context carrying a.
func NewContextWithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFromContext returns the actor of ctx, or SystemActor if there is none.
func ActorFromContext(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return SystemActor
}
