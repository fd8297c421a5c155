package imprint_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// forbidden lists, for each package of the module (by its path below the
// module; "" is the root), the imports that would break the dependency
// direction of the design: root <- templates, policy <- ca <- provisioning
// <- api <- pki, gateway, web <- cmd, with postgres beside them importing only the
// root and migrations. A prefix ending in "/" forbids a whole tree.
var forbidden = map[string][]string{
	"":             {"@"},
	"templates":    {"@/"},
	"policy":       {"@/"},
	"migrations":   {"@"},
	"ca":           {"@/api", "@/provisioning", "@/postgres", "@/gateway", "@/web", "@/device", "@/cmd/"},
	"provisioning": {"@/api", "@/postgres", "@/gateway", "@/web", "@/cmd/", "github.com/go-chi/", "github.com/jackc/"},
	"api":          {"@/postgres", "@/gateway", "@/web", "@/cmd/", "github.com/jackc/"},
	"gateway":      {"@/postgres", "@/api", "@/web", "@/cmd/", "github.com/jackc/"},
	"web":          {"@/postgres", "@/gateway", "@/cmd/", "github.com/jackc/"},
	"pki":          {"@/postgres", "@/provisioning", "@/gateway", "@/web", "@/cmd/", "github.com/jackc/"},
	"device":       {"@/ca", "@/postgres", "@/api", "@/provisioning", "@/gateway", "@/web", "@/cmd/"},
	"webhooks":     workers,
	"events":       workers,
	"revocation":   workers,
}

// workers are the imports forbidden to the background workers (webhooks,
// events, revocation), which the API, the gateway and the console all use.
var workers = []string{"@/api", "@/postgres", "@/provisioning", "@/gateway", "@/web", "@/cmd/",
	"github.com/go-chi/", "github.com/jackc/"}

// allowedWithin are the module's packages a package may import at all, for
// the packages whose whole list is short.
var allowedWithin = map[string][]string{
	"templates": {""},
	"policy":    {""},
	"postgres":  {"", "migrations"},
}

// TestDependencyDirection reads the import graph with go list and fails on
// any edge against the design's direction.
func TestDependencyDirection(t *testing.T) {
	const module = "github.com/imprint-iot/imprint"
	out, err := exec.Command("go", "list", "-tags", "nobadger,nobbolt,nomysql",
		"-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		seen[pkg] = true
		for _, imp := range fields[1:] {
			short := imp
			if imp == module || strings.HasPrefix(imp, module+"/") {
				short = "@" + strings.TrimPrefix(imp, module)
			}
			if (strings.HasPrefix(short, "@/cmd/") || short == "@/cmd") && !strings.HasPrefix(short, "@/"+pkg+"/") {
				// Only a command itself may import its own packages (cmd/imprint/server).
				t.Errorf("%s imports %s: nothing imports a command", fields[0], imp)
			}
			for _, f := range forbidden[topLevel(pkg)] {
				if short == f || strings.HasSuffix(f, "/") && strings.HasPrefix(short, f) {
					t.Errorf("%s imports %s, against the dependency direction", fields[0], imp)
				}
			}
			if allowed, ok := allowedWithin[topLevel(pkg)]; ok && strings.HasPrefix(short, "@") {
				in := strings.TrimPrefix(strings.TrimPrefix(short, "@"), "/")
				if topLevel(in) != topLevel(pkg) && !slices.Contains(allowed, in) {
					t.Errorf("%s imports %s; it may import only %q of the module", fields[0], imp, allowed)
				}
			}
		}
	}
	for _, want := range []string{"", "ca", "api", "postgres", "device", "templates", "policy", "webhooks", "events", "revocation", "pki", "cmd/imprint/server"} {
		if !seen[want] {
			t.Errorf("go list did not list package %q: the test reads the wrong graph", want)
		}
	}
}

// topLevel is the first element of a package path below the module, so that
// postgres/pgtest counts as postgres.
func topLevel(pkg string) string {
	first, _, _ := strings.Cut(pkg, "/")
	return first
}
