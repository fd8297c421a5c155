// Command imprint is Imprint's one binary: the server, its administration,
// a factory client, and a load generator. Run "imprint help" for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/imprint-iot/imprint"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "imprint:", errorText(err))
		os.Exit(1)
	}
}

// errorText shows the safe message of Imprint errors and the whole chain of
// others: the command line is the operator's, not a client's.
func errorText(err error) string {
	var e *imprint.Error
	if errors.As(err, &e) && e.Kind != imprint.Internal && e.Err == nil {
		return e.Message
	}
	return err.Error()
}

const usage = `Imprint: device identity and just-in-time provisioning.

Usage: imprint <command> [flags]

Server:
  serve                      run the API (and a private PostgreSQL if no database is configured)
  migrate up|down|version    manage the database schema
  ca init                    create the root and the first issuing CA
  ca list                    list the CAs
  token create --role R --name N   create an API token (roles: admin, factory, auditor)
  token list                 list the API tokens, with their last use
  token revoke ID|NAME       revoke an API token at once, on every replica

Clients:
  device enroll --api URL --token T --cn NAME --out DIR   get a device key and certificate
  bench issue --api URL --token T [--count N] [--concurrency C] [--batch B]
  bench ocsp --api URL --token T [--count N] [--concurrency C] [--certificates K]
  device connect --endpoint mqtts://HOST:8883|https://HOST:8443 --cert F --key F --cafile F
  bench connect --api URL --token T --mqtt HOST:PORT --cafile F --mode jitp|reconnect|idle [--count N]

  version                    print the version
  help [COMMAND]             print this, or a command's usage and flags (as COMMAND --help does)

Configuration comes from IMPRINT_* environment variables and flags; see docs/configuration.md.
`

// run is the whole program, testable: it reads its environment through
// getenv and writes only to stdout and stderr. Help, asked for with
// "help", -h or --help, goes to stdout and is no error.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("a command is required")
	}
	switch args[0] {
	case "help":
		if len(args) > 1 && args[1] != "help" {
			return run(ctx, append(args[1:len(args):len(args)], "--help"), getenv, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	case "-h", "-help", "--h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	if helpRequested(args[1:]) {
		stderr = stdout // the usage a flag set prints for -h
	}
	err := runCommand(ctx, args, getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func runCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd, rest := args[0], args[1:]
	sub := ""
	if len(rest) > 0 {
		sub = rest[0]
	}
	switch {
	case cmd == "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case cmd == "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case cmd == "ca" && sub == "init":
		return runCAInit(ctx, rest[1:], getenv, stdout, stderr)
	case cmd == "ca" && sub == "list":
		return runCAList(ctx, rest[1:], getenv, stdout, stderr)
	case cmd == "token" && sub == "create":
		return runTokenCreate(ctx, rest[1:], getenv, stdout, stderr)
	case cmd == "token" && sub == "list":
		return runTokenList(ctx, rest[1:], getenv, stdout, stderr)
	case cmd == "token" && sub == "revoke":
		return runTokenRevoke(ctx, rest[1:], getenv, stdout, stderr)
	case cmd == "device" && sub == "enroll":
		return runDeviceEnroll(ctx, rest[1:], getenv, stdout, stderr)
	case cmd == "bench" && sub == "issue":
		return runBenchIssue(ctx, rest[1:], getenv, stdout, stderr)
	case cmd == "bench" && sub == "ocsp":
		return runBenchOCSP(ctx, rest[1:], getenv, stdout, stderr)
	case cmd == "device" && sub == "connect":
		return runDeviceConnect(ctx, rest[1:], getenv, stdout, stderr)
	case cmd == "bench" && sub == "connect":
		return runBenchConnect(ctx, rest[1:], getenv, stdout, stderr)
	case cmd == "version":
		if helpRequested(rest) {
			fmt.Fprintln(stdout, "Usage: imprint version\n\nPrints the version.")
			return nil
		}
		fmt.Fprintln(stdout, "imprint", version)
		return nil
	}
	if g, ok := groupUsage[cmd]; ok {
		if helpRequested(rest) {
			fmt.Fprint(stdout, g)
			return nil
		}
		fmt.Fprint(stderr, g)
		if sub == "" {
			return fmt.Errorf("%q needs a command", cmd)
		}
		return fmt.Errorf("unknown command %q", joinNonEmpty(cmd, sub))
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", joinNonEmpty(cmd, sub))
}

func joinNonEmpty(a, b string) string {
	if b == "" {
		return a
	}
	return a + " " + b
}
