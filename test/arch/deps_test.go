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
	Name       string
	Imports    []string // non-test imports (go list without -test)
	Deps       []string // their transitive closure
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

// roles are the role packages of ARCHITECTURE.md, compositions that only the CLI imports. Those
// not written yet are listed so that the rules hold for them from their first commit.
var roles = []string{"internal/cloud", "internal/edgehub", "internal/agent", "internal/edged"}

func TestRolePackagesAreImportedOnlyByTheCLI(t *testing.T) {
	pkgs := listPackages(t)
	for _, p := range pkgs {
		for _, imp := range p.Imports {
			for _, role := range roles {
				if imp == module+"/"+role && p.ImportPath != module+"/internal/cli" {
					t.Errorf("%s imports the role package %s", p.ImportPath, role)
				}
			}
		}
	}
}

// isTestHelper reports whether a package exists only for tests: internal/testutil, the packages
// under test/ (suites whose product is their tests), and, by Go's convention (httptest, iotest,
// hubclienttest), a package whose name ends in "test". These may import testing; nothing else may
// import them.
func isTestHelper(p *pkg) bool {
	rel := strings.TrimPrefix(p.ImportPath, module+"/")
	return rel == "internal/testutil" || strings.HasPrefix(rel, "test/") || strings.HasSuffix(p.Name, "test")
}

// isTestOnlyDep reports whether a dependency is meant for tests only: the testing package and its
// subpackages, net/http/httptest, or one of the module's test helpers. (The name rule is not for
// the standard library, whose internal/synctest every package depends on through sync.)
func isTestOnlyDep(dep string, pkgs map[string]*pkg) bool {
	if p, ok := pkgs[dep]; ok {
		return isTestHelper(p)
	}
	if !isStd(dep) {
		return false
	}
	return dep == "testing" || strings.HasPrefix(dep, "testing/") || dep == "net/http/httptest"
}

// productTestDeps lists, as "pkg depends on dep", every product package (not a test helper) whose
// non-test code depends, directly or not, on a test-only package. Test code (*_test.go) is not in
// Imports or Deps, so it may use them freely.
func productTestDeps(pkgs map[string]*pkg) []string {
	var bad []string
	for _, p := range pkgs {
		if isTestHelper(p) {
			continue
		}
		for _, dep := range p.Deps {
			if isTestOnlyDep(dep, pkgs) {
				bad = append(bad, p.ImportPath+" depends on "+dep)
			}
		}
	}
	slices.Sort(bad)
	return bad
}

func TestProductPackagesDoNotDependOnTestPackages(t *testing.T) {
	for _, v := range productTestDeps(listPackages(t)) {
		t.Error(v)
	}
}

// TestProductTestDepsBites feeds the checker made-up packages, so that a checker that never
// reports anything cannot pass for a clean tree.
func TestProductTestDepsBites(t *testing.T) {
	fake := func(rel, name string, deps ...string) *pkg {
		return &pkg{ImportPath: module + "/" + rel, Name: name, Deps: deps}
	}
	testutil := module + "/internal/testutil"
	helper := module + "/internal/hubclient/hubclienttest"
	pkgs := map[string]*pkg{}
	for _, p := range []*pkg{
		fake("internal/testutil", "testutil", "testing"),
		fake("internal/hubclient/hubclienttest", "hubclienttest", "testing", "net/http/httptest"),
		fake("test/e2e", "e2e", "testing", testutil),
		fake("internal/cloud", "cloud", "fmt", "testing"),
		fake("internal/store", "store", testutil, "testing"),
		fake("internal/cli", "cli", helper),
		fake("internal/pki", "pki", "net/http/httptest", "testing/fstest"),
		fake("internal/twin", "twin", "sync", "internal/synctest", "github.com/example/latest"),
	} {
		pkgs[p.ImportPath] = p
	}
	got := productTestDeps(pkgs)
	want := []string{
		module + "/internal/cli depends on " + helper,
		module + "/internal/cloud depends on testing",
		module + "/internal/pki depends on net/http/httptest",
		module + "/internal/pki depends on testing/fstest",
		module + "/internal/store depends on " + testutil,
		module + "/internal/store depends on testing",
	}
	if !slices.Equal(got, want) {
		t.Errorf("productTestDeps:\n got %q\nwant %q", got, want)
	}
}

// sessionLayerViolations lists, as "pkg depends on dep", every package of the MQTT layer
// (internal/mqtt/...) that depends, directly or not, on the IoT Hub dialect (internal/iothub) or a
// role package (or a package inside one, like internal/cloud/store). The session layer is plain
// MQTT so that the cloud, the edge hub and the upstream client can all stand on it; the dialect is
// layered above it, never below.
func sessionLayerViolations(pkgs map[string]*pkg) []string {
	forbidden := append([]string{"internal/iothub"}, roles...)
	var bad []string
	for _, p := range pkgs {
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		if rel != "internal/mqtt" && !strings.HasPrefix(rel, "internal/mqtt/") {
			continue
		}
		for _, dep := range p.Deps {
			drel, ok := strings.CutPrefix(dep, module+"/")
			if !ok {
				continue
			}
			for _, f := range forbidden {
				if drel == f || strings.HasPrefix(drel, f+"/") {
					bad = append(bad, p.ImportPath+" depends on "+dep)
				}
			}
		}
	}
	slices.Sort(bad)
	return bad
}

func TestMQTTLayerDoesNotDependOnTheDialectOrRoles(t *testing.T) {
	pkgs := listPackages(t)
	if _, ok := pkgs[module+"/internal/mqtt/broker"]; !ok {
		t.Fatal("internal/mqtt/broker missing")
	}
	for _, v := range sessionLayerViolations(pkgs) {
		t.Error(v)
	}
}

func TestSessionLayerViolationsBites(t *testing.T) {
	fake := func(rel string, deps ...string) *pkg {
		return &pkg{ImportPath: module + "/" + rel, Deps: deps}
	}
	iothub, cloudStore := module+"/internal/iothub", module+"/internal/cloud/store"
	pkgs := map[string]*pkg{}
	for _, p := range []*pkg{
		fake("internal/mqtt/broker", module+"/internal/mqtt/packet", module+"/internal/connlimit", iothub),
		fake("internal/mqtt/packet", "bytes", cloudStore),
		fake("internal/mqtt/client", module+"/internal/edgehub"),
		fake("internal/mqttx", iothub), // not under internal/mqtt/
		fake("internal/cloud", iothub, module+"/internal/mqtt/broker"),
	} {
		pkgs[p.ImportPath] = p
	}
	got := sessionLayerViolations(pkgs)
	want := []string{
		module + "/internal/mqtt/broker depends on " + iothub,
		module + "/internal/mqtt/client depends on " + module + "/internal/edgehub",
		module + "/internal/mqtt/packet depends on " + cloudStore,
	}
	if !slices.Equal(got, want) {
		t.Errorf("sessionLayerViolations:\n got %q\nwant %q", got, want)
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
