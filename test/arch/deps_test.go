// Package arch keeps the dependency direction of ARCHITECTURE.md: leaf packages import only the
// standard library (and each other where noted), role packages are imported only by the CLI.
package arch

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/outpost-iot/outpost"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
}

func listPackages(t *testing.T) map[string]*pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		p := &pkg{}
		if err := dec.Decode(p); err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func TestLeafPackagesUseOnlyTheStandardLibrary(t *testing.T) {
	pkgs := listPackages(t)
	leaves := map[string][]string{ // leaf -> the project packages it may import
		"internal/message":     nil,
		"internal/iothub":      {"internal/message"},
		"internal/twin":        {"internal/iothub", "internal/message"},
		"internal/mqtt/packet": nil,
		"internal/store":       nil,
	}
	for leaf, allowed := range leaves {
		p, ok := pkgs[module+"/"+leaf]
		if !ok {
			t.Errorf("%s missing", leaf)
			continue
		}
		for _, dep := range p.Deps {
			if isStd(dep) {
				continue
			}
			rel := strings.TrimPrefix(dep, module+"/")
			if !slices.Contains(allowed, rel) {
				t.Errorf("%s depends on %s", leaf, dep)
			}
		}
	}
}

func TestRolePackagesAreImportedOnlyByTheCLI(t *testing.T) {
	pkgs := listPackages(t)
	roles := []string{module + "/internal/cloud"}
	for _, p := range pkgs {
		for _, imp := range p.Imports {
			for _, role := range roles {
				if imp == role && p.ImportPath != module+"/internal/cli" {
					t.Errorf("%s imports the role package %s", p.ImportPath, role)
				}
			}
		}
	}
}
