package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// toolSet is one tools module under e2e/tools and the programs it builds.
type toolSet struct {
	module   string
	programs map[string]string // binary name → main package
	tags     string            // Go build tags, comma-separated
}

var toolSets = []toolSet{
	{module: "kubernetes", programs: map[string]string{
		"etcd":                    "go.etcd.io/etcd/server/v3",
		"kube-apiserver":          "k8s.io/kubernetes/cmd/kube-apiserver",
		"kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
		"kube-scheduler":          "k8s.io/kubernetes/cmd/kube-scheduler",
		"kube-proxy":              "k8s.io/kubernetes/cmd/kube-proxy",
		"kubelet":                 "k8s.io/kubernetes/cmd/kubelet",
		"kubectl":                 "k8s.io/kubernetes/cmd/kubectl",
	}},
	{module: "cnpg", programs: map[string]string{"manager": "github.com/cloudnative-pg/cloudnative-pg/cmd/manager"}},
	{module: "coredns", programs: map[string]string{"coredns": "github.com/coredns/coredns"}},
	{module: "csi-provisioner", programs: map[string]string{"csi-provisioner": "github.com/kubernetes-csi/external-provisioner/v5/cmd/csi-provisioner"}},
	{module: "csi-resizer", programs: map[string]string{"csi-resizer": "github.com/kubernetes-csi/external-resizer/cmd/csi-resizer"}},
	{module: "helm", programs: map[string]string{"helm": "helm.sh/helm/v3/cmd/helm"}},
	// Kubernetes' service discovery only: the other providers' cloud SDKs
	// would double the build.
	{module: "prometheus", programs: map[string]string{"prometheus": "github.com/prometheus/prometheus/cmd/prometheus"},
		tags: "remove_all_sd,enable_kubernetes_sd"},
}

const buildToolsStep = "build Kubernetes, CNPG, CoreDNS, the CSI sidecars, Helm and Prometheus from their modules"

// toolsKey identifies a tools module's exact pins: its go.mod and go.sum.
func (l Layout) toolsKey(module string) (string, error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(l.toolsModule(module), f))
		if err != nil {
			return "", fmt.Errorf("tools module %s: %w", module, err)
		}
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// toolsDir is where the programs of a tools module are cached, keyed by its pins.
func (l Layout) toolsDir(module string) (string, error) {
	key, err := l.toolsKey(module)
	if err != nil {
		return "", err
	}
	return l.binDir(module + "-" + key), nil
}

// buildTools builds every program of every tools module that is not cached
// yet, through the same script the Makefile uses, two modules at a time: a
// cold build of one module leaves a core idle while the go command loads its
// packages and while it links, and the other fills it.
func (s *Sandbox) buildTools(ctx context.Context) error {
	const concurrent = 2
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	slots := make(chan struct{}, concurrent)
	for _, set := range toolSets {
		dir, err := s.layout.toolsDir(set.module)
		if err != nil {
			return err
		}
		var specs []string
		for name, pkg := range set.programs {
			if !exists(filepath.Join(dir, name)) {
				specs = append(specs, name+"="+pkg)
			}
		}
		if len(specs) == 0 {
			continue
		}
		slots <- struct{}{}
		mu.Lock()
		if len(errs) > 0 {
			// One failed: start no other, finish those running.
			mu.Unlock()
			<-slots
			break
		}
		fmt.Fprintf(s.out, "   building %s from e2e/tools/%s (cold builds take minutes; warm ones seconds)\n",
			strings.Join(sortedKeys(set.programs), ", "), set.module)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			start := time.Now()
			cmd := exec.CommandContext(ctx, filepath.Join(s.layout.Repo, "hack", "build-tools.sh"),
				append([]string{set.module, dir}, specs...)...)
			cmd.Env = append(os.Environ(), "BUILD_TAGS="+set.tags)
			out, err := cmd.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("build %s: %w\n%s", set.module, err, lastLines(string(out), 30)))
				return
			}
			fmt.Fprintf(s.out, "   built e2e/tools/%s (%s)\n", set.module, since(start))
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// moduleDir is the source directory of a module required by a tools module.
func (l Layout) moduleDir(ctx context.Context, toolsModule, module string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = l.toolsModule(toolsModule)
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locate %s: %w", module, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// moduleVersion is the version of module that a tools module pins.
func (l Layout) moduleVersion(ctx context.Context, toolsModule, module string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", module)
	cmd.Dir = l.toolsModule(toolsModule)
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("version of %s: %w", module, err)
	}
	return strings.TrimSpace(string(out)), nil
}
