package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The sidecar runs in every PostgreSQL pod under a 25 MiB memory goal
// (docs/performance.md). controller-runtime's client and client-go's full
// scheme (every k8s.io/api group, registered at start-up) cost more than
// the sidecar's own data several times over, so neither may creep back in
// through a convenient import.
func TestTheBinaryLinksNoFullKubernetesScheme(t *testing.T) {
	list := exec.Command("go", "list", "-deps", ".")
	list.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "sigs.k8s.io/controller-runtime") ||
			strings.HasPrefix(pkg, "k8s.io/client-go/kubernetes") ||
			strings.HasPrefix(pkg, "k8s.io/api/") {
			t.Errorf("cmd/sidecar links %s", pkg)
		}
	}
}
