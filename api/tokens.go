package api

import (
	"context"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/imprint-iot/imprint"
)

// TokenAdmin creates, lists and revokes API tokens.
type TokenAdmin interface {
	Token(ctx context.Context, id string) (*imprint.Token, error)
	CreateToken(ctx context.Context, t *imprint.Token, actor imprint.Actor) error
	Tokens(ctx context.Context, f imprint.TokenFilter) ([]*imprint.Token, string, error)
	RevokeToken(ctx context.Context, id string, actor imprint.Actor) (*imprint.Token, error)
}

// tokenJSON is a token as the API shows it: never its hash or secret.
type tokenJSON struct {
	TokenID    string     `json:"tokenId"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
	RevokedBy  string     `json:"revokedBy,omitempty"`
	// Token is the bearer string, in the answer to its creation only.
	Token string `json:"token,omitempty"`
}

func tokenOf(t *imprint.Token) tokenJSON {
	j := tokenJSON{TokenID: t.ID, Name: t.Name, Role: string(t.Role), CreatedAt: t.CreatedAt.UTC(), RevokedBy: t.RevokedBy}
	if !t.LastUsedAt.IsZero() {
		u := t.LastUsedAt.UTC()
		j.LastUsedAt = &u
	}
	if t.Revoked() {
		u := t.RevokedAt.UTC()
		j.RevokedAt = &u
	}
	return j
}

type createTokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// handleCreateToken: POST /v1/tokens, {name, role}. The answer holds the
// bearer string, shown this once.
func (s *server) handleCreateToken(w http.ResponseWriter, r *http.Request) error {
	req, err := readJSON[createTokenRequest](w, r)
	if err != nil {
		return err
	}
	t, secret, err := imprint.NewToken(req.Name, imprint.Role(req.Role))
	if err == nil {
		err = s.tokens.CreateToken(r.Context(), t, imprint.ActorFromContext(r.Context()))
	}
	if err != nil {
		return err
	}
	j := tokenOf(t)
	j.Token = secret
	w.Header().Set("Cache-Control", "no-store")
	encode(w, http.StatusCreated, j)
	return nil
}

// handleListTokens: GET /v1/tokens, filtered by name, role and revoked,
// paged by name.
func (s *server) handleListTokens(w http.ResponseWriter, r *http.Request) error {
	f, err := tokenFilterOf(r)
	if err != nil {
		return err
	}
	tokens, next, err := s.tokens.Tokens(r.Context(), f)
	if err != nil {
		return err
	}
	out := struct {
		Tokens     []tokenJSON `json:"tokens"`
		NextCursor string      `json:"nextCursor,omitempty"`
	}{Tokens: make([]tokenJSON, len(tokens)), NextCursor: nameCursorOf("tokens", next)}
	for i, t := range tokens {
		out.Tokens[i] = tokenOf(t)
	}
	encode(w, http.StatusOK, out)
	return nil
}

func tokenFilterOf(r *http.Request) (imprint.TokenFilter, error) {
	q, err := queryParams(r, "name", "role", "revoked", "limit", "cursor")
	if err != nil {
		return imprint.TokenFilter{}, err
	}
	after, err := nameCursor(q, "tokens", imprint.ValidateTokenName)
	if err != nil {
		return imprint.TokenFilter{}, err
	}
	f := imprint.TokenFilter{Name: q.Get("name"), Role: imprint.Role(q.Get("role")), After: after}
	if f.Role != "" && !f.Role.Valid() {
		return f, imprint.Errorf(imprint.Invalid, "role must be admin, factory or auditor")
	}
	switch q.Get("revoked") {
	case "":
	case "true", "false":
		v := q.Get("revoked") == "true"
		f.Revoked = &v
	default:
		return f, imprint.Errorf(imprint.Invalid, "revoked must be true or false")
	}
	f.Limit, err = limitParam(q)
	return f, err
}

// tokenID returns the {id} of the path: 16 hexadecimal digits, as in the
// bearer string after "imp_". Returns Invalid for anything else, and for
// query parameters, which these routes do not take.
func tokenID(r *http.Request) (string, error) {
	if _, err := queryParams(r); err != nil {
		return "", err
	}
	id, err := PathParam(r, "id")
	if err != nil {
		return "", err
	}
	if _, err := hex.DecodeString(id); err != nil || len(id) != 16 {
		return "", imprint.Errorf(imprint.Invalid, "token ID must be 16 hexadecimal digits (the part after %q)", imprint.TokenPrefix)
	}
	return id, nil
}

// handleGetToken: GET /v1/tokens/{id}.
func (s *server) handleGetToken(w http.ResponseWriter, r *http.Request) error {
	id, err := tokenID(r)
	if err != nil {
		return err
	}
	t, err := s.tokens.Token(r.Context(), id)
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, tokenOf(t))
	return nil
}

// handleRevokeToken: POST /v1/tokens/{id}/revoke. The token fails on this
// replica from the answer on, and on the others as soon as they hear of it.
func (s *server) handleRevokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := tokenID(r)
	if err != nil {
		return err
	}
	t, err := s.tokens.RevokeToken(r.Context(), id, imprint.ActorFromContext(r.Context()))
	if err != nil {
		return err
	}
	s.auth.forget(t.ID)
	encode(w, http.StatusOK, tokenOf(t))
	return nil
}
