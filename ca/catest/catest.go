// Package catest gives the tests of other packages a CA made once per test
// binary: making and encrypting CA keys is the costliest part of a test's
// set-up, so a test binary makes them once, in its template database (see
// pgtest.MainWith), and every test's database starts with them.
package catest

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/imprint-iot/imprint/ca"
)

// Init makes a root and a default issuing CA of organization "Acme" in
// store, their keys encrypted with passphrase in a new temporary directory,
// and returns the directory: the DataDir of every test's authority. The
// caller removes it when the tests are done.
func Init(ctx context.Context, store ca.Store, passphrase []byte, publicURL string) (dir string, err error) {
	if dir, err = os.MkdirTemp("", "imprint-test-ca-"); err != nil {
		return "", err
	}
	auth, err := ca.New(ctx, ca.Config{DataDir: dir, Passphrase: passphrase, PublicURL: publicURL,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, store)
	if err == nil {
		_, _, err = auth.Init(ctx, ca.InitRequest{Organization: "Acme"})
	}
	return dir, err
}
