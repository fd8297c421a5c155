package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

// mustRun runs the command and returns its stdout, failing the test on an
// error.
func mustRun(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	var out, errOut syncBuffer
	if err := run(context.Background(), args, getenvFrom(env), &out, &errOut); err != nil {
		t.Fatalf("imprint %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// TestTokenCommands creates, lists and revokes tokens from the command line
// while a server runs: the server refuses a revoked token it has just
// verified (and cached) within moments, having heard of it from the database.
func TestTokenCommands(t *testing.T) {
	t.Parallel()
	env := map[string]string{"IMPRINT_DATABASE_URL": pgtest.URL(t), "IMPRINT_DATA_DIR": t.TempDir(),
		"IMPRINT_CA_PASSPHRASE": "tokens", "IMPRINT_LOG_LEVEL": "warn"}
	s := startServe(t, env)
	defer s.stop()
	factory := strings.TrimSpace(mustRun(t, env, "token", "create", "--role", "factory", "--name", "line-4"))
	auditor := strings.TrimSpace(mustRun(t, env, "token", "create", "--name", "audit-1", "--role", "auditor"))
	for _, tok := range []string{factory, auditor} {
		if status := getStatus(t, s.url+"/v1/cas", tok); status != http.StatusOK {
			t.Fatalf("GET /v1/cas with a new token = %d, want 200", status)
		}
	}

	list := mustRun(t, env, "token", "list")
	for _, leak := range []string{factory, factory[len(factory)-43:], s.token[len(s.token)-43:]} {
		if strings.Contains(list, leak) {
			t.Errorf("token list shows a secret:\n%s", list)
		}
	}
	factoryID, _, _ := imprint.ParseToken(factory)
	row := regexp.MustCompile(`(?m)^` + factoryID + `\s+line-4\s+factory\s+\S+ \S+\s+(\S+ \S+)\s+-\s*$`).FindStringSubmatch(list)
	if row == nil || row[1] == "never" {
		t.Fatalf("token list has no used, active line-4 row:\n%s", list)
	}
	if !regexp.MustCompile(`(?m)^[0-9a-f]{16}\s+first-admin\s+admin\s`).MatchString(list) {
		t.Errorf("token list lacks the first admin token:\n%s", list)
	}

	// By name, then by ID.
	if out := mustRun(t, env, "token", "revoke", "line-4"); !strings.Contains(out, "revoked token "+factoryID) {
		t.Errorf("token revoke line-4 = %q", out)
	}
	auditorID, _, _ := imprint.ParseToken(auditor)
	if out := mustRun(t, env, "token", "revoke", "--log-level", "error", auditorID); !strings.Contains(out, "audit-1") {
		t.Errorf("token revoke %s = %q", auditorID, out)
	}
	for _, tok := range []string{factory, auditor} {
		waitFor(t, 5*time.Second, func() (bool, string) {
			status := getStatus(t, s.url+"/v1/cas", tok)
			return status == http.StatusUnauthorized, fmt.Sprintf("the server answers %d to a token revoked from the command line, want 401", status)
		})
	}
	if list := mustRun(t, env, "token", "list"); !regexp.MustCompile(`(?m)^` + factoryID + `\s+line-4\s.* by system\s*$`).MatchString(list) {
		t.Errorf("token list does not show line-4 revoked by system:\n%s", list)
	}

	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"token", "revoke", "first-admin"}, "last active admin token"},
		{[]string{"token", "revoke", "line-4"}, "already revoked"},
		{[]string{"token", "revoke", "nobody"}, `no token has the ID or name "nobody"`},
		{[]string{"token", "revoke"}, "usage: imprint token revoke ID|NAME"},
		{[]string{"token", "revoke", "a", "b"}, "unexpected arguments: b"},
	} {
		err := run(context.Background(), c.args, getenvFrom(env), io.Discard, io.Discard)
		if err == nil || !strings.Contains(errorText(err), c.says) {
			t.Errorf("imprint %s = %v, want an error saying %q", strings.Join(c.args, " "), err, c.says)
		}
	}
}

func getStatus(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
