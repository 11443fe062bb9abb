// Package testenv starts a real kube-apiserver and etcd (built from source by
// `make envtest-bins`) for integration tests, with this project's CRDs and
// CNPG's CRDs installed.
//
// A missing binary is a test failure with the command that builds it, never a
// skip: a skipped integration test would hide exactly what it exists to prove.
package testenv

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/pgstorage/cnpg-storage-autoscaler/internal/kubescheme"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/repo"
)

// KubeVersion is the Kubernetes release the test binaries are built from
// (e2e/tools/kubernetes).
const KubeVersion = "v1.34.4"

// Env is a running control plane and a client for it.
type Env struct {
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
	env    *envtest.Environment
	// managers are those StartManager started, stopped before the control
	// plane so that none outlives its API server.
	managers []*Manager
}

// Start brings up etcd and kube-apiserver with every CRD installed. Call Stop
// when done (typically from TestMain).
func Start() (*Env, error) {
	assets, err := binaryDir()
	if err != nil {
		return nil, err
	}
	cnpgCRDs, err := cnpgCRDDir()
	if err != nil {
		return nil, err
	}
	scheme, err := kubescheme.New()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        []string{filepath.Join(RepoRoot(), "deploy", "crds"), cnpgCRDs},
		ErrorIfCRDPathMissing:    true,
		Scheme:                   scheme,
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start kube-apiserver and etcd from %s: %w", assets, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("client for the test API server: %w", err)
	}
	return &Env{Config: cfg, Client: c, Scheme: scheme, env: env}, nil
}

// Stop stops the managers StartManager started, then the control plane.
func (e *Env) Stop() error {
	for _, m := range e.managers {
		m.Stop()
	}
	return e.env.Stop()
}

// Main starts the control plane into *env, runs setup and the package's
// tests, and stops it: func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }.
// A control plane that does not start fails the run, loudly.
func Main(m *testing.M, env **Env, setup ...func() error) int {
	e, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*env = e
	defer func() {
		if err := e.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop test API server:", err)
		}
	}()
	for _, f := range setup {
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// RepoRoot is the root of this repository, found from the working
// directory (a test runs in its package's directory).
func RepoRoot() string {
	dir, err := repo.Root()
	if err != nil {
		panic(err)
	}
	return dir
}

// binaryDir finds etcd and kube-apiserver: KUBEBUILDER_ASSETS when set (the
// Makefile sets it), else the directory `make envtest-bins` builds into.
func binaryDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "bin", "k8s-"+KubeVersion)
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("integration tests need %s in %s: run `make envtest-bins` "+
				"(builds etcd and kube-apiserver %s from source; ~4 min cold): %w", name, dir, KubeVersion, err)
		}
	}
	return dir, nil
}

// cnpgCRDDir is config/crd/bases of the CNPG module the product pins, so the
// test API server knows exactly the Cluster schema the product compiles against.
func cnpgCRDDir() (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/cloudnative-pg/cloudnative-pg").Output()
	if err != nil {
		return "", fmt.Errorf("locate the CNPG module (go mod download): %w", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("locate the CNPG module: unexpected `go mod download` output %q", out)
	}
	return filepath.Join(mod.Dir, "config", "crd", "bases"), nil
}

// CNPGCRDDir is the directory of the CNPG CRDs the test API server installs
// (those of the CNPG module the product pins).
func CNPGCRDDir() (string, error) { return cnpgCRDDir() }
