// Package chart tests the Helm chart in deploy/helm/cnpg-storage-autoscaler
// through the Helm SDK at the version the helm command is built from
// (e2e/tools/helm): lint, values schema, what the rendered objects promise
// (webhooks fail open, containers non-root and read-only, least-privilege
// RBAC), a server-side dry-run of every object on a real kube-apiserver, and
// that deploy/kustomize is exactly the chart's default output.
package chart

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
)

const (
	releaseName      = "cnpg-storage-autoscaler"
	releaseNamespace = "pgstorage-system"
)

// chartDir is the chart under test.
func chartDir() string {
	return filepath.Join(testenv.RepoRoot(), "deploy", "helm", "cnpg-storage-autoscaler")
}

// valueSet is a meaningful way to install the chart.
type valueSet struct {
	name      string
	namespace string
	values    map[string]any
}

// valueSets are the installs every rendering test covers.
func valueSets() []valueSet {
	return []valueSet{
		{name: "defaults", namespace: releaseNamespace, values: map[string]any{}},
		{name: "cert-manager", namespace: releaseNamespace, values: map[string]any{
			"certManager": map[string]any{"enabled": true},
		}},
		{name: "cert-manager with a ClusterIssuer", namespace: releaseNamespace, values: map[string]any{
			"certManager": map[string]any{"enabled": true, "issuerRef": map[string]any{"name": "corp-ca", "kind": "ClusterIssuer"}},
		}},
		{name: "monitoring", namespace: releaseNamespace, values: map[string]any{
			"metrics": map[string]any{
				"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus"}},
				"podMonitor":     map[string]any{"enabled": true, "interval": "15s"},
			},
			"prometheusRule":   map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus"}},
			"grafanaDashboard": map[string]any{"enabled": true, "annotations": map[string]any{"grafana_folder": "PostgreSQL"}},
		}},
		{name: "custom images in another namespace", namespace: "storage-ops", values: map[string]any{
			"image":          map[string]any{"repository": "registry.example/pgstorage/controller", "tag": "abc1234", "pullPolicy": "Never"},
			"sidecar":        map[string]any{"image": map[string]any{"repository": "registry.example/pgstorage/sidecar", "tag": "abc1234"}},
			"serviceAccount": map[string]any{"name": "autoscaler"},
			"replicaCount":   3,
		}},
	}
}

// render runs `helm install --dry-run --client-only --include-crds` through
// the SDK and returns the rendered objects (CRDs included).
func render(t *testing.T, namespace string, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	manifest, err := renderManifest(namespace, values)
	if err != nil {
		t.Fatalf("render the chart: %v", err)
	}
	objects, err := decodeObjects(manifest)
	if err != nil {
		t.Fatalf("decode the rendered chart: %v", err)
	}
	if len(objects) == 0 {
		t.Fatal("the chart rendered no objects")
	}
	return objects
}

func renderManifest(namespace string, values map[string]any) (string, error) {
	chrt, err := loader.Load(chartDir())
	if err != nil {
		return "", err
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.IncludeCRDs = true
	install.DisableHooks = true
	install.ReleaseName = releaseName
	install.Namespace = namespace
	kube, err := chartutil.ParseKubeVersion(testenv.KubeVersion)
	if err != nil {
		return "", err
	}
	install.KubeVersion = kube
	release, err := install.Run(chrt, values)
	if err != nil {
		return "", err
	}
	return release.Manifest, nil
}

// decodeObjects splits a multi-document YAML stream into objects, skipping
// empty documents.
func decodeObjects(manifest string) ([]*unstructured.Unstructured, error) {
	var objects []*unstructured.Unstructured
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(manifest)), 4096)
	for {
		var raw map[string]any
		if err := decoder.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return objects, nil
			}
			return nil, err
		}
		if len(raw) == 0 {
			continue
		}
		objects = append(objects, &unstructured.Unstructured{Object: raw})
	}
}

// ofKind returns the objects of one kind.
func ofKind(objects []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objects {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// one returns the single object of a kind, failing otherwise.
func one(t *testing.T, objects []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	found := ofKind(objects, kind)
	if len(found) != 1 {
		t.Fatalf("want exactly one %s, the chart rendered %d", kind, len(found))
	}
	return found[0]
}

// into converts an unstructured object into a typed one.
func into[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	typed := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, typed, true); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return typed
}

// containsArg reports whether args holds the exact flag.
func argValue(args []string, flag string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v, true
		}
	}
	return "", false
}
