package imprint_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/imprint-iot/imprint"
)

// TestEveryEventTypeIsListed reads the root package's source and checks that
// every Event* string constant is in EventTypes, so that webhooks can
// subscribe to it and listings can filter on it.
func TestEveryEventTypeIsListed(t *testing.T) {
	pkgs, err := parser.ParseDir(token.NewFileSet(), ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, f := range pkgs["imprint"].Files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Event") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					value, _ := strconv.Unquote(lit.Value)
					found++
					if !slices.Contains(imprint.EventTypes, value) {
						t.Errorf("%s = %q is not in EventTypes", name.Name, value)
					}
				}
			}
		}
	}
	if found != len(imprint.EventTypes) {
		t.Errorf("found %d Event* constants, EventTypes lists %d", found, len(imprint.EventTypes))
	}
}
