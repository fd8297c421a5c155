package api

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imprint-iot/imprint"
)

// TokenStore looks up API tokens and records their use.
type TokenStore interface {
	// Token returns the token, revoked or not; NotFound if there is none.
	Token(ctx context.Context, id string) (*imprint.Token, error)
	// TokenUsed records a use of the token, cheaply enough to call on every
	// verification.
	TokenUsed(ctx context.Context, id string) error
}

// tokenCacheTTL is how long a verified token is trusted without asking the
// database again. Revocations do not wait for it: they are announced on
// imprint.ChannelTokens.
const tokenCacheTTL = 30 * time.Second

// TokenCache verifies bearer tokens, keeping verified ones for a short while
// so that the hot issuing path does not read the token table. Feed it the
// notifications of imprint.ChannelTokens (Notify) so that a token revoked on
// any replica is refused here at once.
type TokenCache struct {
	store TokenStore
	log   *slog.Logger
	mu    sync.Mutex
	cache map[[32]byte]cachedActor // by SHA-256 of the whole bearer string
	// gen counts invalidations: a lookup that began before one does not
	// fill the cache, lest it keep a token revoked meanwhile.
	gen uint64
}

type cachedActor struct {
	actor   imprint.Actor
	expires time.Time
}

// NewTokenCache returns an empty cache over store.
func NewTokenCache(store TokenStore, log *slog.Logger) *TokenCache {
	return &TokenCache{store: store, log: log, cache: map[[32]byte]cachedActor{}}
}

// Notify handles a notification of imprint.ChannelTokens: it forgets the
// token whose ID is the payload, or every token on an empty payload (the
// listener's signal that notifications may have been missed).
func (a *TokenCache) Notify(channel, payload string) {
	if channel != imprint.ChannelTokens {
		return
	}
	a.forget(payload)
}

// forget drops the token with the given ID from the cache, or all on "".
func (a *TokenCache) forget(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	if id == "" {
		clear(a.cache)
		return
	}
	for k, c := range a.cache {
		if c.actor.TokenID == id {
			delete(a.cache, k)
		}
	}
}

// Authenticate returns the actor of the request's bearer token. Returns
// Unauthorized for a missing, malformed, unknown or revoked token.
func (a *TokenCache) Authenticate(r *http.Request) (imprint.Actor, error) {
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
	gen := a.gen
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
	if t.Revoked() {
		return imprint.Actor{}, imprint.Errorf(imprint.Unauthorized, "the bearer token was revoked")
	}
	if err := a.store.TokenUsed(r.Context(), t.ID); err != nil {
		a.log.WarnContext(r.Context(), "record token use", "token", t.ID, "err", err)
	}
	actor := imprint.Actor{TokenID: t.ID, Name: t.Name, Role: t.Role}
	a.mu.Lock()
	if a.gen == gen {
		if len(a.cache) > 10_000 { // bounded: drop everything rather than grow
			clear(a.cache)
		}
		a.cache[key] = cachedActor{actor: actor, expires: now.Add(tokenCacheTTL)}
	}
	a.mu.Unlock()
	return actor, nil
}

// Authenticate is middleware that puts the actor of the request's bearer
// token (see TokenCache.Authenticate) in the request's context, any role;
// without a valid token it answers Unauthorized through writeError.
func Authenticate(tokens *TokenCache, writeError func(http.ResponseWriter, *http.Request, error)) func(http.Handler) http.Handler {
	return RequireRole(tokens, writeError, imprint.RoleAdmin, imprint.RoleFactory, imprint.RoleAuditor)
}

// RequireRole is Authenticate letting through only the given roles: 401
// (with a WWW-Authenticate header) without a valid token, 403 for another
// role, both answered through writeError.
func RequireRole(tokens *TokenCache, writeError func(http.ResponseWriter, *http.Request, error), roles ...imprint.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			actor, err := tokens.Authenticate(r)
			if err != nil {
				if imprint.ErrorKind(err) == imprint.Unauthorized {
					w.Header().Set("WWW-Authenticate", `Bearer realm="imprint"`)
				}
				writeError(w, r, err)
				return
			}
			if !slices.Contains(roles, actor.Role) {
				writeError(w, r, imprint.Errorf(imprint.Forbidden,
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
