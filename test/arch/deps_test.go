// Package arch keeps the dependency direction of ARCHITECTURE.md: leaf packages import only the
// standard library (and each other where noted), role packages are imported only by the CLI.
package arch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/outpost-iot/outpost"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// packages lists the module's packages once (`go list` takes seconds on a
// cold cache) for every test of this file.
var packages = sync.OnceValues(func() (map[string]*pkg, error) {
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		p := &pkg{}
		if err := dec.Decode(p); err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs, nil
})

func listPackages(t *testing.T) map[string]*pkg {
	t.Helper()
	pkgs, err := packages()
	if err != nil {
		t.Fatal(err)
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
		"internal/datadir":     nil,
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

// The MQTT session layers are role-neutral: the edge hub's upstream link and the
// broker's servers build on them, so they import the codec, never the IoT Hub
// dialect or a role (ARCHITECTURE.md; issue 6 section 0).
func TestMQTTClientImportsOnlyTheCodec(t *testing.T) {
	pkgs := listPackages(t)
	allowed := map[string]bool{
		module + "/internal/mqtt/packet": true,
		"github.com/coder/websocket":     true, // MQTT over WebSocket
	}
	p, ok := pkgs[module+"/internal/mqtt/client"]
	if !ok {
		t.Fatal("internal/mqtt/client missing")
	}
	for _, dep := range p.Deps {
		if isStd(dep) || allowed[dep] || strings.HasPrefix(dep, "github.com/coder/websocket/internal/") {
			continue
		}
		t.Errorf("internal/mqtt/client depends on %s", dep)
	}
}
