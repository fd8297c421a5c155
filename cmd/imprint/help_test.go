package main

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestHelp checks that every way of asking for help prints that command's
// usage, with its own flags only, to stdout, succeeds, and opens nothing.
func TestHelp(t *testing.T) {
	t.Chdir(t.TempDir()) // a command that ran would make ./data here
	env := map[string]string{"IMPRINT_CA_PASSPHRASE": "s3cret-passphrase", "IMPRINT_TOKEN": "imp_s3cret-token",
		"IMPRINT_DATABASE_URL": "postgres://imprint:s3cret-password@127.0.0.1:1/imprint"}
	for _, c := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"--help"}, []string{"Usage: imprint <command>", "token revoke ID|NAME"}, nil},
		{[]string{"-h"}, []string{"Usage: imprint <command>"}, nil},
		{[]string{"help"}, []string{"Usage: imprint <command>"}, nil},
		{[]string{"ca", "--help"}, []string{"Usage: imprint ca init|list", "list the CAs"}, []string{"-database-url"}},
		{[]string{"ca", "-h"}, []string{"Usage: imprint ca init|list"}, nil},
		{[]string{"token", "--help"}, []string{"Usage: imprint token create|list|revoke", "revoke ID|NAME"}, nil},
		{[]string{"help", "token"}, []string{"Usage: imprint token create|list|revoke"}, nil},
		{[]string{"device", "--help"}, []string{"Usage: imprint device enroll"}, nil},
		{[]string{"bench", "--help"}, []string{"Usage: imprint bench issue|ocsp"}, nil},
		{[]string{"migrate", "--help"}, []string{"Usage: imprint migrate up|down|version", "-database-url", "-data-dir", "-log-level"},
			[]string{"-listen", "-crl-validity", "-ca-passphrase", "-tls-cert"}},
		{[]string{"migrate", "up", "-h"}, []string{"Usage: imprint migrate"}, nil},
		{[]string{"serve", "--help"}, []string{"Usage: imprint serve", "-listen", "-crl-validity", "-tls-cert", "-database-url"}, nil},
		{[]string{"help", "serve"}, []string{"Usage: imprint serve"}, nil},
		{[]string{"ca", "init", "--help"}, []string{"Usage: imprint ca init", "-ca-passphrase", "-public-url", "-organization", "-key-type"},
			[]string{"-listen", "-crl-validity", "-tls-cert"}},
		{[]string{"ca", "list", "-help"}, []string{"Usage: imprint ca list", "-database-url"},
			[]string{"-listen", "-crl-validity", "-ca-passphrase", "-organization"}},
		{[]string{"token", "create", "--help"}, []string{"Usage: imprint token create", "-role", "-name", "-database-url"},
			[]string{"-listen", "-crl-validity", "-ca-passphrase"}},
		{[]string{"token", "list", "--help"}, []string{"Usage: imprint token list", "-database-url"}, []string{"-listen", "-role"}},
		{[]string{"token", "revoke", "--help"}, []string{"Usage: imprint token revoke ID|NAME", "last active admin"}, []string{"-listen"}},
		{[]string{"help", "token", "revoke"}, []string{"Usage: imprint token revoke ID|NAME"}, nil},
		{[]string{"device", "enroll", "--help"}, []string{"Usage: imprint device enroll", "-cn", "-token", "-api"}, []string{"-database-url"}},
		{[]string{"bench", "issue", "--help"}, []string{"Usage: imprint bench issue", "-concurrency", "-batch"}, []string{"-database-url"}},
		{[]string{"bench", "ocsp", "--help"}, []string{"Usage: imprint bench ocsp", "-certificates"}, []string{"-batch"}},
		{[]string{"device", "connect", "--help"}, []string{"Usage: imprint device connect", "-endpoint", "-client-id", "-cafile"}, []string{"-token"}},
		{[]string{"bench", "connect", "--help"}, []string{"Usage: imprint bench connect", "-mode", "-mqtt", "-concurrency"}, []string{"-batch"}},
		{[]string{"version", "--help"}, []string{"Usage: imprint version"}, nil},
	} {
		var out, errOut syncBuffer
		err := run(context.Background(), c.args, getenvFrom(env), &out, &errOut)
		if err != nil || errOut.String() != "" {
			t.Errorf("run(%q) = %v, stderr %q; want nil and nothing on stderr", c.args, err, errOut.String())
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("run(%q) stdout lacks %q:\n%s", c.args, w, out.String())
			}
		}
		for _, n := range c.not {
			if strings.Contains(out.String(), "  "+n+" ") {
				t.Errorf("run(%q) lists the flag %s, not its own:\n%s", c.args, n, out.String())
			}
		}
		if strings.Contains(out.String(), "s3cret") {
			t.Errorf("run(%q) shows a secret from the environment:\n%s", c.args, out.String())
		}
	}
	if _, err := os.Stat("data"); !os.IsNotExist(err) {
		t.Errorf("asking for help made a data directory (%v): a command ran", err)
	}
}

// TestCommandUsageErrors checks that a command group without its command,
// or a command with a wrong operand, fails with the group's usage on stderr
// before opening anything.
func TestCommandUsageErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"ca"}, "Usage: imprint ca init|list"},
		{[]string{"token"}, "Usage: imprint token create|list|revoke"},
		{[]string{"token", "delete"}, "Usage: imprint token create|list|revoke"},
		{[]string{"migrate", "sideways"}, "Usage: imprint migrate up|down|version"},
		{[]string{"migrate"}, "Usage: imprint migrate up|down|version"},
		{[]string{"ca", "list", "--listen", ":1"}, "flag provided but not defined: -listen"},
	} {
		var out, errOut syncBuffer
		if err := run(context.Background(), c.args, getenvFrom(nil), &out, &errOut); err == nil {
			t.Errorf("run(%q) = nil, want an error", c.args)
		}
		if !strings.Contains(errOut.String(), c.says) || out.String() != "" {
			t.Errorf("run(%q): stdout %q, stderr %q; want nothing and %q", c.args, out.String(), errOut.String(), c.says)
		}
	}
	if _, err := os.Stat("data"); !os.IsNotExist(err) {
		t.Errorf("a usage error made a data directory (%v): a command ran", err)
	}
}
