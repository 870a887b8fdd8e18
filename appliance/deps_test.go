package appliance_test

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

// TestDependencyPicture pins DESIGN's seams: the call engine and the
// signaling layer import no store (signaling gets a Committer, appliance
// wires it), the record model imports nothing of ours, the SFU knows
// nothing of calls or signaling, and the REST API never imports pion
// (the robot's media is appliance/robot's), not even through another
// package.
func TestDependencyPicture(t *testing.T) {
	// A forbidden entry is a package, or with "/..." a package and all
	// below it.
	for _, tc := range []struct {
		pkg    string
		forbid []string
	}{
		{"signaling/call/record", []string{"callbox/appliance/...", "callbox/sfu/...", "callbox/signaling", "callbox/signaling/call", "callbox/signaling/usersig", "callbox/store/...", "callbox/turn/..."}},
		{"signaling/call", []string{"callbox/store/...", "callbox/signaling/usersig", "callbox/sfu/...", "callbox/turn/...", "callbox/appliance/..."}},
		{"signaling", []string{"callbox/store/...", "callbox/sfu/...", "callbox/turn/...", "callbox/appliance/..."}},
		{"sfu", []string{"callbox/signaling/...", "callbox/store/...", "callbox/turn/...", "callbox/appliance/..."}},
		{"appliance/restapi", []string{"callbox/sfu/...", "callbox/appliance", "callbox/appliance/robot", "callbox/turn/...", "github.com/pion/..."}},
		{"store", []string{"callbox/signaling", "callbox/signaling/call", "callbox/signaling/usersig", "callbox/sfu/...", "callbox/turn/...", "callbox/appliance/..."}},
	} {
		deps := map[string]bool{}
		walk(t, "callbox/"+tc.pkg, deps)
		for dep := range deps {
			for _, f := range tc.forbid {
				tree, sub := strings.CutSuffix(f, "/...")
				if dep == tree || sub && strings.HasPrefix(dep, tree+"/") {
					t.Errorf("%s depends on %s", tc.pkg, dep)
				}
			}
		}
	}
}

// walk adds pkg and every callbox package it imports (non-test files),
// transitively, to deps, and the other packages those import directly
// (not their own imports: a forbidden module is caught where one of ours
// imports it).
func walk(t *testing.T, pkg string, deps map[string]bool) {
	if deps[pkg] {
		return
	}
	deps[pkg] = true
	p, err := build.ImportDir(filepath.Join("..", strings.TrimPrefix(pkg, "callbox/")), 0)
	if err != nil {
		t.Fatalf("read %s: %v", pkg, err)
	}
	for _, imp := range p.Imports {
		if strings.HasPrefix(imp, "callbox/") {
			walk(t, imp, deps)
		} else {
			deps[imp] = true
		}
	}
}
