package imprint

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
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

// RoleDevice is the role of a device in the audit log: the actor of what its
// first connection changed (its certificate's registration, its thing and
// policies), named by its certificate ID. No token has it.
const RoleDevice Role = "device"

// Valid reports whether r is a role a token may have.
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
	LastUsedAt time.Time // zero if never used; recorded at most once a minute
	RevokedAt  time.Time // zero unless revoked
	RevokedBy  string    // the name of the actor that revoked it; "" unless revoked
}

// Revoked reports whether the token has been revoked.
func (t *Token) Revoked() bool { return !t.RevokedAt.IsZero() }

// ChannelTokens announces that an API token was revoked; the payload is its
// ID. Every replica forgets the token at once.
const ChannelTokens = "imprint_tokens"

// TokenFilter selects API tokens, in name order. Zero fields do not filter.
type TokenFilter struct {
	Name    string // exactly this name
	Role    Role
	Revoked *bool  // only revoked tokens (true) or only active ones (false)
	After   string // cursor: the name of the last token of the previous page
	Limit   int    // 1..MaxPageSize; 0 means DefaultPageSize
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

// TokenPrefix starts every API token, so that leaked tokens are easy to find.
const TokenPrefix = "imp_"

// ValidateTokenName returns Invalid unless name is 1 to 128 letters, digits,
// '-', '_', '.', '@' or ':'.
func ValidateTokenName(name string) error {
	if name == "" || len(name) > 128 || !tokenNameRE.MatchString(name) {
		return Errorf(Invalid, "token name must be 1 to 128 letters, digits, '-', '_', '.', '@' or ':'")
	}
	return nil
}

// NewToken makes a token with a random ID and secret. It returns the token as
// stored (with the secret's hash) and the bearer string to show once.
func NewToken(name string, role Role) (*Token, string, error) {
	if !role.Valid() {
		return nil, "", Errorf(Invalid, "role must be admin, factory or auditor")
	}
	if err := ValidateTokenName(name); err != nil {
		return nil, "", err
	}
	id := make([]byte, 8)
	secret := make([]byte, 32)
	rand.Read(id)
	rand.Read(secret)
	idHex := hex.EncodeToString(id)
	secretText := base64.RawURLEncoding.EncodeToString(secret)
	hash := sha256.Sum256([]byte(secretText))
	t := &Token{ID: idHex, Name: name, Role: role, Hash: hash[:]}
	return t, TokenPrefix + idHex + "_" + secretText, nil
}

// ParseToken splits a bearer string into the token ID and the SHA-256 of its
// secret. ok is false if the string is not shaped like an Imprint token.
func ParseToken(bearer string) (id string, secretHash [32]byte, ok bool) {
	rest, found := strings.CutPrefix(bearer, TokenPrefix)
	if !found || len(rest) != 16+1+43 || rest[16] != '_' {
		return "", secretHash, false
	}
	id, secret := rest[:16], rest[17:]
	if _, err := hex.DecodeString(id); err != nil {
		return "", secretHash, false
	}
	return id, sha256.Sum256([]byte(secret)), true
}

// Matches reports, in constant time, whether secretHash is the token's hash.
func (t *Token) Matches(secretHash [32]byte) bool {
	return subtle.ConstantTimeCompare(t.Hash, secretHash[:]) == 1
}

var tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9._@:-]+$`)
