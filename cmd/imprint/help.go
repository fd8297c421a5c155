package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlagSet returns the flag set of one command, whose usage (printed for
// --help, and after a flag error) is "Usage: imprint " and synopsis, what the
// command does, and the command's own flags.
func newFlagSet(name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: imprint %s\n\n%s\n", synopsis, about)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(w, "\nFlags:")
			printDefaultsHidingSecrets(fs)
		}
	}
	return fs
}

// secretFlags are the flags whose values, taken from the environment, the
// usage must not show: they may hold a passphrase, a token or a password.
var secretFlags = map[string]bool{"ca-passphrase": true, "database-url": true, "token": true}

// printDefaultsHidingSecrets is fs.PrintDefaults without the default values
// of secretFlags.
func printDefaultsHidingSecrets(fs *flag.FlagSet) {
	saved := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if secretFlags[f.Name] {
			saved[f.Name], f.DefValue = f.DefValue, ""
		}
	})
	fs.PrintDefaults()
	for name, v := range saved {
		fs.Lookup(name).DefValue = v
	}
}

// databaseFlags are the flags of the commands that only open the database:
// migrate, ca list and token.
var databaseFlags = []string{"database-url", "data-dir", "log-level", "log-format"}

// commandFlags registers on fs only the named flags of the server's
// configuration; the rest of it keeps its IMPRINT_* or default values.
func commandFlags(fs *flag.FlagSet, getenv func(string) string, names ...string) *config {
	all := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	c := serverFlags(all, getenv)
	for _, n := range names {
		f := all.Lookup(n)
		fs.Var(f.Value, f.Name, f.Usage)
	}
	return c
}

// parseOperand parses args holding one operand (an action, an ID) before or
// after the flags, and returns the operand ("" if there is none).
func parseOperand(fs *flag.FlagSet, args []string, stderr io.Writer) (string, error) {
	var operand string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		operand, args = args[0], args[1:]
	}
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	rest := fs.Args()
	if operand == "" && len(rest) > 0 {
		operand = rest[0]
		if err := fs.Parse(rest[1:]); err != nil {
			return "", err
		}
		rest = fs.Args()
	}
	if len(rest) > 0 {
		return "", fmt.Errorf("unexpected arguments: %s", strings.Join(rest, " "))
	}
	return operand, nil
}

// helpRequested reports whether args ask for help with -h or --help (before
// a "--" that ends the flags).
func helpRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--h", "--help":
			return true
		}
	}
	return false
}

// groupUsage is the usage of each command that has subcommands.
var groupUsage = map[string]string{
	"ca": `Usage: imprint ca init|list [flags]

  init    create the root and the first issuing CA
  list    list the CAs

Run "imprint ca init --help" or "imprint ca list --help" for the flags.
`,
	"token": `Usage: imprint token create|list|revoke [flags]

  create --role R --name N   create an API token and print it once (roles: admin, factory, auditor)
  list                       list the API tokens: role, creation, last use, revocation
  revoke ID|NAME             revoke a token at once, on every replica

Run "imprint token COMMAND --help" for the flags.
`,
	"device": `Usage: imprint device enroll --api URL --token T --cn NAME --out DIR [flags]

  enroll    get a device key and certificate
  connect   connect to the device endpoint (MQTT or HTTPS) and print what it answered

Run "imprint device enroll --help" or "imprint device connect --help" for the flags.
`,
	"bench": `Usage: imprint bench issue|ocsp --api URL --token T [flags]

  issue    measure certificate issuing against a running server
  ocsp     measure OCSP answers against a running server
  connect  measure device connections (JITP first connections, reconnections) against a running server

Run "imprint bench issue --help" or "imprint bench ocsp --help" for the flags.
`,
}
