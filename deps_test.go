package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// internalDeps is the import graph below the top-level package, as policy,
// in the spirit of go/build/deps_test.go: each package under
// workqueue/internal, and the workqueue packages it may import. Any package
// may import the standard library, and nothing but it and workqueue exists
// here. A package without a row, a row without a package, or an import not
// in its package's row fails TestInternalDeps: a new arrow is a reviewed
// change to this table, not an accident.
var internalDeps = map[string][]string{
	// The floor: the standard library only (see stdOnly).
	"workqueue/internal/command":  nil,
	"workqueue/internal/job":      nil,
	"workqueue/internal/journal":  nil,
	"workqueue/internal/lines":    nil,
	"workqueue/internal/metrics":  nil,
	"workqueue/internal/signals":  nil,
	"workqueue/internal/testutil": nil,

	// The containers of jobs, the journal of their lives, the answers and
	// the reading of what users send.
	"workqueue/internal/config":     {"workqueue/internal/auth", "workqueue/internal/hostguard", "workqueue/internal/journal"},
	"workqueue/internal/jobjournal": {"workqueue/internal/job", "workqueue/internal/journal"},
	"workqueue/internal/pool":       {"workqueue/internal/job"},
	"workqueue/internal/queue":      {"workqueue/internal/job"},
	"workqueue/internal/respond":    {"workqueue/internal/job"},
	"workqueue/internal/store":      {"workqueue/internal/job"},
	"workqueue/internal/submit":     {"workqueue/internal/job", "workqueue/internal/respond"},

	// What is built on them.
	"workqueue/internal/lifecycle": {
		"workqueue/internal/events", "workqueue/internal/job", "workqueue/internal/jobjournal",
		"workqueue/internal/metrics", "workqueue/internal/store",
	},
	"workqueue/internal/api": {
		"workqueue/internal/dashboard", "workqueue/internal/events", "workqueue/internal/job",
		"workqueue/internal/jobjournal", "workqueue/internal/lifecycle", "workqueue/internal/metrics",
		"workqueue/internal/pool", "workqueue/internal/query", "workqueue/internal/queue", "workqueue/internal/remote",
		"workqueue/internal/respond", "workqueue/internal/retry", "workqueue/internal/store", "workqueue/internal/submit",
	},
	// A remote worker: claims, runs the command, reports.
	"workqueue/internal/runner": {"workqueue/internal/command"},
	// The remote workers' claims and leases, served beside the API.
	"workqueue/internal/remote": {
		"workqueue/internal/job", "workqueue/internal/jobjournal", "workqueue/internal/lifecycle",
		"workqueue/internal/metrics", "workqueue/internal/pool", "workqueue/internal/queue",
		"workqueue/internal/respond", "workqueue/internal/retry", "workqueue/internal/store", "workqueue/internal/submit",
	},
	"workqueue/internal/dashboard": {"workqueue/internal/respond"},
	// The Host check of a loopback server, whose 421 is respond's JSON
	// error, and the token check, whose 401 is too.
	"workqueue/internal/auth":        {"workqueue/internal/respond"},
	"workqueue/internal/hostguard":   {"workqueue/internal/respond"},
	"workqueue/internal/events":      {"workqueue/internal/job", "workqueue/internal/respond"},
	"workqueue/internal/idempotency": {"workqueue/internal/job", "workqueue/internal/respond"},
	"workqueue/internal/retry":       {"workqueue/internal/job", "workqueue/internal/lifecycle", "workqueue/internal/queue"},
	"workqueue/internal/query":       {"workqueue/internal/job", "workqueue/internal/respond", "workqueue/internal/store"},
}

// stdOnly are the packages that import nothing of workqueue: the lowest
// floor of the graph, and testutil, which the tests of every package may
// import without a cycle.
var stdOnly = []string{
	"workqueue/internal/command",
	"workqueue/internal/job",
	"workqueue/internal/journal",
	"workqueue/internal/lines",
	"workqueue/internal/metrics",
	"workqueue/internal/signals",
	"workqueue/internal/testutil",
}

// goPackage is the part of `go list -json` that TestInternalDeps reads.
type goPackage struct {
	ImportPath string
	Standard   bool     // part of the standard library
	Imports    []string // of its non-test files
}

// listDeps returns, by import path, every package under ./internal and
// every package they import, directly or not, as `go list -deps` sees them.
func listDeps(t *testing.T) map[string]goPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-json", "./internal/...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]goPackage{}
	for d := json.NewDecoder(bytes.NewReader(out)); ; {
		var p goPackage
		if err := d.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// TestInternalDeps checks the imports of every package under
// workqueue/internal against internalDeps, and that the packages of stdOnly
// import the standard library only.
func TestInternalDeps(t *testing.T) {
	pkgs := listDeps(t)
	for path, p := range pkgs {
		if !strings.HasPrefix(path, "workqueue/internal/") {
			continue
		}
		allowed, ok := internalDeps[path]
		if !ok {
			t.Errorf("%s has no row in internalDeps: add one with the workqueue packages it may import", path)
			continue
		}
		for _, imp := range p.Imports {
			switch {
			case pkgs[imp].Standard:
			case !strings.HasPrefix(imp, "workqueue/"):
				t.Errorf("%s imports %s, which is neither the standard library nor workqueue", path, imp)
			case len(allowed) == 0:
				t.Errorf("%s imports %s; internalDeps allows it the standard library only", path, imp)
			case !slices.Contains(allowed, imp):
				t.Errorf("%s imports %s; internalDeps allows it only %q", path, imp, allowed)
			}
		}
	}
	for path := range internalDeps {
		if _, ok := pkgs[path]; !ok {
			t.Errorf("internalDeps has a row for %s, which go list does not find", path)
		}
	}
	for _, path := range stdOnly {
		if allowed := internalDeps[path]; len(allowed) != 0 {
			t.Errorf("internalDeps allows %s to import %q; it may import the standard library only", path, allowed)
		}
	}
}
