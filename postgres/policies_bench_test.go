package postgres_test

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

// BenchmarkEffectivePolicies measures the one query that finds the policies
// of a connection: a certificate with 3 policies of its own, attached to a
// thing in the leaf of a 3-level group chain with 3 policies per group (12
// policies in all), among 1,000 other certificates, things and groups with
// policies of their own.
func BenchmarkEffectivePolicies(b *testing.B) {
	const others = 1000
	url := pgtest.URL(b)
	db, err := postgres.Open(ctx, url, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	ca := mustCA(b, db)
	certs := make([]imprint.Certificate, others+1)
	ids := make([]string, len(certs))
	for i := range certs {
		certs[i] = newCert(ca.ID, fmt.Sprintf("dev-%d", i))
		ids[i] = certs[i].ID
	}
	if err := db.CreateCertificates(ctx, certs, imprint.SystemActor, nil); err != nil {
		b.Fatal(err)
	}
	conn := pgtest.Conn(b, url)
	for _, q := range []string{
		`INSERT INTO thing_groups (name, parent) VALUES ('g0', NULL), ('g1', 'g0'), ('g2', 'g1')`,
		`INSERT INTO thing_groups (name) SELECT 'other-' || i FROM generate_series(1, $1::int) i`,
		`INSERT INTO things (name) SELECT 'thing-' || i FROM generate_series(0, $1::int) i`,
		`INSERT INTO thing_principals (thing_name, certificate_id) SELECT 'thing-' || (n - 1), id
			FROM unnest($1::text[]) WITH ORDINALITY AS c(id, n)`,
		`INSERT INTO thing_group_members (group_name, thing_name) VALUES ('g2', 'thing-0')`,
		`INSERT INTO thing_group_members (group_name, thing_name) SELECT 'other-' || i, 'thing-' || i FROM generate_series(1, $1::int) i`,
	} {
		var args []any
		switch {
		case strings.Contains(q, "text[]"):
			args = []any{ids}
		case strings.Contains(q, "$1"):
			args = []any{others}
		}
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"topic/${iot:ClientId}/*"}]}`
	attach := func(name, typ, target string) {
		if _, err := db.CreatePolicy(ctx, name, doc, imprint.SystemActor); err != nil {
			b.Fatal(err)
		}
		if err := db.AttachPolicy(ctx, name, typ, target, imprint.SystemActor); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 3 {
		attach(fmt.Sprintf("cert-%d", i), imprint.TargetCertificate, ids[0])
		for g := range 3 {
			attach(fmt.Sprintf("g%d-%d", g, i), imprint.TargetThingGroup, fmt.Sprintf("g%d", g))
		}
	}
	if _, err := db.CreatePolicy(ctx, "others", doc, imprint.SystemActor); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO policy_attachments (policy_name, target_type, target_id)
		SELECT 'others', 'certificate', id FROM unnest($1::text[]) id WHERE id <> $2
		UNION ALL SELECT 'others', 'thinggroup', name FROM thing_groups WHERE name LIKE 'other-%'`, ids, ids[0]); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	vs, err := db.EffectivePolicies(ctx, ids[0], "thing-0")
	if err != nil || len(vs) != 12 {
		b.Fatalf("EffectivePolicies() = %d policies, %v; want 12", len(vs), err)
	}
	for b.Loop() {
		if _, err := db.EffectivePolicies(ctx, ids[0], "thing-0"); err != nil {
			b.Fatal(err)
		}
	}
}
