package postgres_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

func mustToken(tb testing.TB, db *postgres.DB, name string, role imprint.Role) *imprint.Token {
	tb.Helper()
	tok, _, err := imprint.NewToken(name, role)
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.CreateToken(ctx, tok, imprint.SystemActor); err != nil {
		tb.Fatal(err)
	}
	return tok
}

// TestTokenUsed checks that the last use is recorded at most once a minute.
func TestTokenUsed(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	tok := mustToken(t, db, "line-1", imprint.RoleFactory)
	if got, _ := db.Token(ctx, tok.ID); !got.LastUsedAt.IsZero() {
		t.Fatalf("a new token's LastUsedAt = %v, want zero", got.LastUsedAt)
	}
	if err := db.TokenUsed(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	first, _ := db.Token(ctx, tok.ID)
	if first.LastUsedAt.IsZero() {
		t.Fatal("TokenUsed() did not record the use")
	}
	db.TokenUsed(ctx, tok.ID)
	if again, _ := db.Token(ctx, tok.ID); !again.LastUsedAt.Equal(first.LastUsedAt) {
		t.Errorf("a second use within the minute moved LastUsedAt from %v to %v", first.LastUsedAt, again.LastUsedAt)
	}
	count(t, db, `WITH u AS (UPDATE api_tokens SET last_used_at = last_used_at - interval '2 minutes'
		WHERE id = '`+tok.ID+`' RETURNING 1) SELECT count(*) FROM u`)
	first, _ = db.Token(ctx, tok.ID)
	db.TokenUsed(ctx, tok.ID)
	if later, _ := db.Token(ctx, tok.ID); !later.LastUsedAt.After(first.LastUsedAt) {
		t.Errorf("a use two minutes later left LastUsedAt at %v, want after %v", later.LastUsedAt, first.LastUsedAt)
	}
}

func TestRevokeToken(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	admin := mustToken(t, db, "admin-1", imprint.RoleAdmin)
	line := mustToken(t, db, "line-1", imprint.RoleFactory)
	actor := imprint.Actor{TokenID: admin.ID, Name: admin.Name, Role: imprint.RoleAdmin}

	got, err := db.RevokeToken(ctx, line.ID, actor)
	if err != nil || !got.Revoked() || got.RevokedBy != "admin-1" {
		t.Fatalf("RevokeToken() = %+v, %v; want revoked by admin-1", got, err)
	}
	if stored, _ := db.Token(ctx, line.ID); !stored.RevokedAt.Equal(got.RevokedAt) {
		t.Errorf("stored RevokedAt = %v, want %v", stored.RevokedAt, got.RevokedAt)
	}
	// The event is written in the revocation's transaction.
	if n := count(t, db, `SELECT count(*) FROM audit_events e, api_tokens t
		WHERE e.type = 'token.revoked' AND e.resource_id = t.id AND t.id = '`+line.ID+`'
		  AND e.actor_name = 'admin-1' AND (e.txid::text::numeric % 4294967296)::text = t.xmin::text`); n != 1 {
		t.Errorf("token.revoked events in the revocation's transaction = %d, want 1", n)
	}
	if _, err := db.RevokeToken(ctx, line.ID, actor); imprint.ErrorKind(err) != imprint.Conflict {
		t.Errorf("revoking again: kind = %v, want Conflict", imprint.ErrorKind(err))
	}
	if _, err := db.RevokeToken(ctx, "0123456789abcdef", actor); imprint.ErrorKind(err) != imprint.NotFound {
		t.Errorf("revoking an unknown token: kind = %v, want NotFound", imprint.ErrorKind(err))
	}
	if _, err := db.RevokeToken(ctx, admin.ID, actor); imprint.ErrorKind(err) != imprint.Conflict {
		t.Errorf("revoking the last admin token: kind = %v, want Conflict", imprint.ErrorKind(err))
	}
	db.TokenUsed(ctx, line.ID)
	if stored, _ := db.Token(ctx, line.ID); !stored.LastUsedAt.IsZero() {
		t.Errorf("a revoked token's use was recorded")
	}

	// Two admins revoking each other at once: one of them stays.
	other := mustToken(t, db, "admin-2", imprint.RoleAdmin)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []string{admin.ID, other.ID} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = db.RevokeToken(ctx, id, imprint.SystemActor)
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Errorf("concurrent revocations of the two admins = %v, %v; want one to succeed and one Conflict", errs[0], errs[1])
	}
	if n := count(t, db, `SELECT count(*) FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL`); n != 1 {
		t.Errorf("active admin tokens = %d, want 1", n)
	}
}

func TestTokensFiltersAndPages(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		mustToken(t, db, n, imprint.RoleFactory)
	}
	mustToken(t, db, "root", imprint.RoleAdmin)
	c, _, _ := db.Tokens(ctx, imprint.TokenFilter{Name: "c"})
	if len(c) != 1 {
		t.Fatalf("Tokens(name c) = %d tokens, want 1", len(c))
	}
	if _, err := db.RevokeToken(ctx, c[0].ID, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	var names []string
	f := imprint.TokenFilter{Role: imprint.RoleFactory, Limit: 2}
	for pages := 0; ; pages++ {
		page, next, err := db.Tokens(ctx, f)
		if err != nil || pages > 5 {
			t.Fatalf("Tokens() = %v after %d pages", err, pages)
		}
		for _, tok := range page {
			names = append(names, tok.Name)
		}
		if next == "" {
			break
		}
		f.After = next
	}
	if got := strings.Join(names, " "); got != "a b c d e" {
		t.Errorf("factory tokens paged by 2 = %q, want \"a b c d e\"", got)
	}
	yes, no := true, false
	if r, _, _ := db.Tokens(ctx, imprint.TokenFilter{Revoked: &yes}); len(r) != 1 || r[0].Name != "c" {
		t.Errorf("revoked tokens = %v, want c", r)
	}
	if r, _, _ := db.Tokens(ctx, imprint.TokenFilter{Revoked: &no}); len(r) != 5 {
		t.Errorf("active tokens = %d, want 5", len(r))
	}
}
