package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
)

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	cfg := serverFlags(fs, getenv)
	if len(args) == 0 {
		return fmt.Errorf("usage: imprint migrate up|down|version")
	}
	action := args[0]
	if err := parseFlags(fs, args[1:], stderr); err != nil {
		return err
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
	case "version":
	default:
		return fmt.Errorf("unknown migrate action %q: want up, down or version", action)
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
	fs := flag.NewFlagSet("ca init", flag.ContinueOnError)
	cfg := serverFlags(fs, getenv)
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
	fs := flag.NewFlagSet("ca list", flag.ContinueOnError)
	cfg := serverFlags(fs, getenv)
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
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	cfg := serverFlags(fs, getenv)
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
