package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "migrate up|down|version [flags]",
		"Applies every migration (up), reverts the last one (down), or prints the schema version.")
	cfg := commandFlags(fs, getenv, databaseFlags...)
	action, err := parseOperand(fs, args, stderr)
	if err != nil {
		return err
	}
	if action != "up" && action != "down" && action != "version" {
		fs.SetOutput(stderr)
		fs.Usage()
		return fmt.Errorf("unknown migrate action %q: want up, down or version", action)
	}
	e, err := openEnv(ctx, cfg, stderr, false)
	if err != nil {
		return err
	}
	defer e.close()
	switch action {
	case "up":
		err = e.db.MigrateUp(ctx)
	case "down":
		err = e.db.MigrateDown(ctx)
	}
	if err != nil {
		return err
	}
	v, dirty, err := e.db.MigrationVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema version %d", v)
	if dirty {
		fmt.Fprint(stdout, " (dirty: a migration failed; fix it and force the version)")
	}
	fmt.Fprintln(stdout)
	return nil
}

func runCAInit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ca init", "ca init [flags]",
		"Creates the root CA (20 years) and the first issuing CA (10 years), their keys encrypted in the data directory.")
	cfg := commandFlags(fs, getenv, append(databaseFlags, "public-url", "ca-passphrase", "ca-passphrase-file")...)
	org := fs.String("organization", "Imprint", "organization in the CA subjects")
	keyType := fs.String("key-type", string(imprint.KeyECDSAP256), "CA key type: EC-P256 or EC-P384")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	e, err := openEnv(ctx, cfg, stderr, true)
	if err != nil {
		return err
	}
	defer e.close()
	auth, err := e.authority(ctx, false)
	if err != nil {
		return err
	}
	root, iss, err := auth.Init(ctx, ca.InitRequest{Organization: *org, KeyType: imprint.KeyType(*keyType)})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "root CA     %s  %s\nissuing CA  %s  %s\n", root.ID, root.Subject, iss.ID, iss.Subject)
	return nil
}

func runCAList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ca list", "ca list [flags]", "Lists the CAs.")
	cfg := commandFlags(fs, getenv, databaseFlags...)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	e, err := openEnv(ctx, cfg, stderr, true)
	if err != nil {
		return err
	}
	defer e.close()
	cas, err := e.db.CAs(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tSTATUS\tKEY\tNOT AFTER\tSUBJECT")
	for _, c := range cas {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, c.Role, c.Status, c.KeyAlgorithm,
			c.NotAfter.UTC().Format("2006-01-02"), c.Subject)
	}
	return tw.Flush()
}

func runTokenCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token create", "token create --role admin|factory|auditor --name NAME [flags]",
		"Creates an API token and prints it, this once: only its hash is kept.")
	cfg := commandFlags(fs, getenv, databaseFlags...)
	role := fs.String("role", "", "admin, factory or auditor")
	name := fs.String("name", "", "a unique name for the token, recorded in the audit log")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	t, secret, err := imprint.NewToken(*name, imprint.Role(*role))
	if err != nil {
		return err
	}
	e, err := openEnv(ctx, cfg, stderr, true)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.db.CreateToken(ctx, t, imprint.SystemActor); err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	return nil
}

func runTokenList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token list", "token list [flags]",
		"Lists the API tokens, revoked ones included: ID, name, role, when each was created and last used\n"+
			"(recorded at most once a minute), and when and by whom it was revoked. Never their secrets.")
	cfg := commandFlags(fs, getenv, databaseFlags...)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	e, err := openEnv(ctx, cfg, stderr, true)
	if err != nil {
		return err
	}
	defer e.close()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tLAST USED\tREVOKED")
	f := imprint.TokenFilter{Limit: imprint.MaxPageSize}
	for {
		page, next, err := e.db.Tokens(ctx, f)
		if err != nil {
			return err
		}
		for _, t := range page {
			revoked := "-"
			if t.Revoked() {
				revoked = timeText(t.RevokedAt) + " by " + t.RevokedBy
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, timeText(t.CreatedAt),
				timeText(t.LastUsedAt), revoked)
		}
		if next == "" {
			return tw.Flush()
		}
		f.After = next
	}
}

// timeText shows t to the second in UTC, or "never" when it is zero.
func timeText(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func runTokenRevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token revoke", "token revoke ID|NAME [flags]",
		"Revokes an API token for good, by ID (as token list shows it) or by name; an ID wins over a name.\n"+
			"Running servers refuse it at once. The last active admin token cannot be revoked: create another first.")
	cfg := commandFlags(fs, getenv, databaseFlags...)
	ref, err := parseOperand(fs, args, stderr)
	if err != nil {
		return err
	}
	if ref == "" {
		return fmt.Errorf("usage: imprint token revoke ID|NAME")
	}
	e, err := openEnv(ctx, cfg, stderr, true)
	if err != nil {
		return err
	}
	defer e.close()
	id, err := e.tokenID(ctx, ref)
	if err != nil {
		return err
	}
	t, err := e.db.RevokeToken(ctx, id, imprint.SystemActor)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked token %s (%s, %s)\n", t.ID, t.Name, t.Role)
	return nil
}

// tokenID returns the ID of the token whose ID, else whose name, is ref.
// Returns NotFound if there is none.
func (e *env) tokenID(ctx context.Context, ref string) (string, error) {
	if _, err := hex.DecodeString(ref); err == nil && len(ref) == 16 {
		t, err := e.db.Token(ctx, ref)
		if err == nil {
			return t.ID, nil
		}
		if imprint.ErrorKind(err) != imprint.NotFound {
			return "", err
		}
	}
	ts, _, err := e.db.Tokens(ctx, imprint.TokenFilter{Name: ref})
	if err != nil {
		return "", err
	}
	if len(ts) == 0 {
		return "", imprint.Errorf(imprint.NotFound, "no token has the ID or name %q (imprint token list shows them)", ref)
	}
	return ts[0].ID, nil
}
