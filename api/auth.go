package api

import (
	"context"
	"crypto/sha256"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imprint-iot/imprint"
)

// TokenStore looks up API tokens.
type TokenStore interface {
	Token(ctx context.Context, id string) (*imprint.Token, error)
}

// tokenCacheTTL is how long a verified token is trusted without asking the
// database again.
const tokenCacheTTL = 30 * time.Second

// authenticator verifies bearer tokens, keeping verified ones for a short
// while so that the hot issuing path does not read the token table.
type authenticator struct {
	store TokenStore
	mu    sync.Mutex
	cache map[[32]byte]cachedActor // by SHA-256 of the whole bearer string
}

type cachedActor struct {
	actor   imprint.Actor
	expires time.Time
}

func newAuthenticator(store TokenStore) *authenticator {
	return &authenticator{store: store, cache: map[[32]byte]cachedActor{}}
}

// authenticate returns the actor of the request's bearer token. Returns
// Unauthorized for a missing, malformed or unknown token.
func (a *authenticator) authenticate(r *http.Request) (imprint.Actor, error) {
	h := r.Header.Get("Authorization")
	scheme, bearer, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") {
		return imprint.Actor{}, imprint.Errorf(imprint.Unauthorized, "an Authorization: Bearer token is required")
	}
	bearer = strings.TrimSpace(bearer)
	key := sha256.Sum256([]byte(bearer))
	now := time.Now()
	a.mu.Lock()
	c, ok := a.cache[key]
	a.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.actor, nil
	}
	id, secretHash, ok := imprint.ParseToken(bearer)
	if !ok {
		return imprint.Actor{}, imprint.Errorf(imprint.Unauthorized, "the bearer token is malformed")
	}
	t, err := a.store.Token(r.Context(), id)
	if imprint.ErrorKind(err) == imprint.NotFound || (err == nil && !t.Matches(secretHash)) {
		return imprint.Actor{}, imprint.Errorf(imprint.Unauthorized, "the bearer token is not valid")
	}
	if err != nil {
		return imprint.Actor{}, err
	}
	actor := imprint.Actor{TokenID: t.ID, Name: t.Name, Role: t.Role}
	a.mu.Lock()
	if len(a.cache) > 10_000 { // bounded: drop everything rather than grow
		clear(a.cache)
	}
	a.cache[key] = cachedActor{actor: actor, expires: now.Add(tokenCacheTTL)}
	a.mu.Unlock()
	return actor, nil
}

// requireRole is middleware that authenticates the request and lets it
// through only for the given roles: 401 without a valid token, 403 for
// another role.
func (s *server) requireRole(roles ...imprint.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			actor, err := s.auth.authenticate(r)
			if err != nil {
				if imprint.ErrorKind(err) == imprint.Unauthorized {
					w.Header().Set("WWW-Authenticate", `Bearer realm="imprint"`)
				}
				s.writeError(w, r, err)
				return
			}
			if !slices.Contains(roles, actor.Role) {
				s.writeError(w, r, imprint.Errorf(imprint.Forbidden,
					"role %s may not do this (allowed: %s)", actor.Role, roleList(roles)))
				return
			}
			next.ServeHTTP(w, r.WithContext(imprint.NewContextWithActor(r.Context(), actor)))
		})
	}
}

func roleList(roles []imprint.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}
