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

// TestEffectivePoliciesPlan: the policies of a connection are found through
// the index of the certificate's attachments, whatever the planner knows of
// the policy tables. A deployment has few policies, attached to many
// certificates, and tables that small are never analyzed by autovacuum;
// the planner then read every attachment of every policy (13 ms a
// connection at 28,000 attachments, on the reconnect path).
func TestEffectivePoliciesPlan(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	db, err := postgres.Open(ctx, url, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	ca := mustCA(t, db)
	cert := newCert(ca.ID, "dev-plan")
	if err := db.CreateCertificates(ctx, []imprint.Certificate{cert}, imprint.SystemActor, nil); err != nil {
		t.Fatal(err)
	}
	conn := pgtest.Conn(t, url)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`
	for i := range 12 {
		name := fmt.Sprintf("policy-%d", i)
		if _, err := db.CreatePolicy(ctx, name, doc, imprint.SystemActor); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`ALTER TABLE policies SET (autovacuum_enabled = false)`,
		`ALTER TABLE policy_versions SET (autovacuum_enabled = false)`,
		`ALTER TABLE policy_attachments SET (autovacuum_enabled = false)`,
		`INSERT INTO policy_attachments (policy_name, target_type, target_id)
			SELECT 'policy-' || (i % 12), 'certificate', 'other-' || i FROM generate_series(1, 30000) i`,
		`INSERT INTO policy_attachments (policy_name, target_type, target_id) VALUES ('policy-0', 'certificate', '` + cert.ID + `')`,
		`ANALYZE policy_attachments`, // as autovacuum does for a table that grows; not the small ones
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rows, err := conn.Query(ctx, "EXPLAIN "+postgres.EffectivePoliciesSQL, cert.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan.String(), "policy_attachments_target_idx") {
		t.Errorf("the plan does not find the attachments by their target:\n%s", plan.String())
	}
	if vs, err := db.EffectivePolicies(ctx, cert.ID, ""); err != nil || len(vs) != 1 || vs[0].PolicyName != "policy-0" {
		t.Errorf("EffectivePolicies() = %v, %v; want policy-0", vs, err)
	}
}
