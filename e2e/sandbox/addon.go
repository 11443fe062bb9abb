package sandbox

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// The add-on is installed exactly as users install it: its images built
// from the project's Dockerfiles (hack/images.sh, podman, no registry) and
// its Helm chart installed with the helm command built from Helm's module.
const (
	addonRelease   = "cnpg-storage-autoscaler"
	addonNamespace = "pgstorage-system"
)

// AddonNamespace is where the add-on runs.
func AddonNamespace() string { return addonNamespace }

// installAddon builds the add-on's images for this machine's architecture,
// imports them and installs (or upgrades) the chart, waiting until the
// controller is available.
func (s *Sandbox) installAddon(ctx context.Context) error {
	build := exec.CommandContext(ctx, filepath.Join(s.layout.Repo, "hack", "images.sh"), "build")
	build.Dir = s.layout.Repo
	// Only this machine's architecture: the sandbox runs nothing else.
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local", "PLATFORMS=linux/"+runtime.GOARCH)
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the add-on's images (hack/images.sh): %w\n%s", err, lastLines(string(out), 20))
	}
	imagesDir := filepath.Join(s.layout.Repo, "bin", "images")
	env, err := readEnvFile(filepath.Join(imagesDir, "images.env"))
	if err != nil {
		return err
	}
	for _, image := range []string{"controller", "sidecar"} {
		if err := s.importImage(ctx, filepath.Join(imagesDir, "cnpg-storage-autoscaler-"+image+".docker.tar")); err != nil {
			return err
		}
	}
	controllerRepo, controllerTag, err := splitImage(env["CONTROLLER_IMAGE"])
	if err != nil {
		return err
	}
	sidecarRepo, sidecarTag, err := splitImage(env["SIDECAR_IMAGE"])
	if err != nil {
		return err
	}
	if err := s.applyChartCRDs(ctx); err != nil {
		return err
	}
	helm := exec.CommandContext(ctx, filepath.Join(s.tools["helm"], "helm"),
		"--kubeconfig", s.layout.Kubeconfig(),
		"upgrade", "--install", addonRelease, filepath.Join(s.layout.Repo, "deploy", "helm", addonRelease),
		"--namespace", addonNamespace, "--create-namespace",
		"--set", "image.repository="+controllerRepo, "--set", "image.tag="+controllerTag,
		"--set", "image.pullPolicy=IfNotPresent",
		"--set", "sidecar.image.repository="+sidecarRepo, "--set", "sidecar.image.tag="+sidecarTag,
		"--wait", "--timeout", (5 * time.Minute).String())
	if out, err := helm.CombinedOutput(); err != nil {
		pods, _ := s.kubectl(ctx, "-n", addonNamespace, "get", "pods", "-o", "wide")
		logs, _ := s.kubectl(ctx, "-n", addonNamespace, "logs", "deployment/"+addonRelease, "--tail=20")
		return fmt.Errorf("helm install: %w\n%s\n%s\n%s", err, out, pods, logs)
	}
	fmt.Fprintf(s.out, "   add-on %s installed (controller %s, sidecar %s)\n", addonRelease, env["CONTROLLER_IMAGE"], env["SIDECAR_IMAGE"])
	return nil
}

// applyChartCRDs applies the chart's CRDs server-side before the chart:
// Helm installs a chart's crds/ only with the release and never upgrades
// them, so a sandbox that stays up while the API gains a field would keep
// the old schema, and the API server would prune the field from every
// write. Users upgrade the same way (README).
func (s *Sandbox) applyChartCRDs(ctx context.Context) error {
	files, err := filepath.Glob(filepath.Join(s.layout.Repo, "deploy", "helm", addonRelease, "crds", "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("the chart's CRDs (deploy/helm/%s/crds): %v", addonRelease, err)
	}
	var documents []string
	for _, file := range files {
		content, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		documents = append(documents, string(content))
	}
	return s.applyManifest(ctx, strings.Join(documents, "\n---\n"))
}

// readEnvFile reads KEY=VALUE lines.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("image list from `make images`: %w", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = strings.Trim(v, `"'`)
		}
	}
	return env, sc.Err()
}

// splitImage splits repository:tag (the repository may hold a port).
func splitImage(image string) (repo, tag string, err error) {
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return "", "", fmt.Errorf("image %q has no tag", image)
	}
	return image[:i], image[i+1:], nil
}
