package chart

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
)

// Third-party CRDs the chart can create objects of, from their Go modules at
// the versions FACTS.md names (CNPG's come with testenv). Fetched by `go mod
// download`, never product dependencies.
var thirdPartyCRDs = []struct{ module, dir string }{
	{"github.com/cert-manager/cert-manager@v1.19.1", "deploy/crds"},
	{"github.com/prometheus-operator/prometheus-operator@v0.85.0", "example/prometheus-operator-crd"},
}

// moduleDir downloads module@version into the module cache and returns its
// directory. It runs outside this repository's module so go.mod and go.sum
// stay untouched.
func moduleDir(t *testing.T, moduleAtVersion string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", moduleAtVersion)
	cmd.Dir = t.TempDir()
	cmd.Env = append(cmd.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v\n%s", moduleAtVersion, err, out)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: %s %s", moduleAtVersion, mod.Error, out)
	}
	return mod.Dir
}

// TestServerSideDryRun applies every object of every value set with
// server-side apply, dry-run and strict field validation, on a real
// kube-apiserver that knows the CRDs of this project, CNPG, cert-manager and
// the Prometheus operator: a wrong field, a bad CEL expression or an invalid
// value is refused exactly as `helm install` would see it.
func TestServerSideDryRun(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop the test API server: %v", err)
		}
	})
	var paths []string
	for _, crds := range thirdPartyCRDs {
		paths = append(paths, filepath.Join(moduleDir(t, crds.module), filepath.FromSlash(crds.dir)))
	}
	installed, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: paths, ErrorIfPathMissing: true})
	if err != nil {
		t.Fatalf("install cert-manager's and the Prometheus operator's CRDs: %v", err)
	}
	if len(installed) < 8 {
		t.Fatalf("installed %d third-party CRDs from %v; expected cert-manager's and the Prometheus operator's", len(installed), paths)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := client.WithFieldValidation(env.Client, metav1.FieldValidationStrict)
	namespaces := map[string]bool{}
	for _, set := range valueSets() {
		if !namespaces[set.namespace] {
			namespaces[set.namespace] = true
			if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: set.namespace}}); err != nil {
				t.Fatal(err)
			}
		}
	}

	for _, set := range valueSets() {
		t.Run(set.name, func(t *testing.T) {
			objects := render(t, set.namespace, set.values)
			kinds := map[string]int{}
			for _, o := range objects {
				kinds[o.GetKind()]++
				if err := dryRunApply(ctx, c, o); err != nil {
					t.Errorf("%s %s/%s refused: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				}
			}
			for _, kind := range []string{"CustomResourceDefinition", "Deployment", "Service", "ClusterRole", "Role",
				"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy"} {
				if kinds[kind] == 0 {
					t.Errorf("rendered no %s: %v", kind, kinds)
				}
			}
			if set.values["metrics"] != nil && (kinds["ServiceMonitor"] != 1 || kinds["PodMonitor"] != 1) {
				t.Errorf("monitoring on: want one ServiceMonitor and one PodMonitor: %v", kinds)
			}
			if wantRules := set.values["prometheusRule"] != nil; (kinds["PrometheusRule"] == 1) != wantRules {
				t.Errorf("prometheusRule on: %v; rendered %d PrometheusRules", wantRules, kinds["PrometheusRule"])
			}
			// The dashboard's ConfigMap is on in every set (the default).
			if kinds["ConfigMap"] != 1 {
				t.Errorf("rendered %d ConfigMaps, want the dashboard's", kinds["ConfigMap"])
			}
		})
	}

	// The dry-run must be able to fail: the same objects, each spoilt, are refused.
	t.Run("spoilt objects are refused", func(t *testing.T) {
		objects := render(t, releaseNamespace, map[string]any{
			"metrics":        map[string]any{"serviceMonitor": map[string]any{"enabled": true}},
			"prometheusRule": map[string]any{"enabled": true},
		})
		// (the first object of each kind)
		spoil := map[string]func(o *unstructured.Unstructured){
			"ValidatingAdmissionPolicy": func(o *unstructured.Unstructured) {
				validations, _, _ := unstructured.NestedSlice(o.Object, "spec", "validations")
				validations[0].(map[string]any)["expression"] = "request.userInfo.extra["
				_ = unstructured.SetNestedSlice(o.Object, validations, "spec", "validations")
			},
			"Deployment": func(o *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(o.Object, int64(2), "spec", "template", "spec", "securityContext", "runAsUsr")
			},
			"ServiceMonitor": func(o *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(o.Object, "sometimes", "spec", "endpoints0")
			},
			"PrometheusRule": func(o *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(o.Object, "often", "spec", "groups")
			},
		}
		for kind, spoilIt := range spoil {
			found := ofKind(objects, kind)
			if len(found) == 0 {
				t.Fatalf("no %s rendered", kind)
			}
			o := found[0].DeepCopy()
			spoilIt(o)
			if err := dryRunApply(ctx, c, o); err == nil {
				t.Errorf("a spoilt %s was accepted: the dry-run proves nothing", kind)
			}
		}
	})
}

// dryRunApply is `kubectl apply --server-side --dry-run=server` of one object.
func dryRunApply(ctx context.Context, c client.Client, o *unstructured.Unstructured) error {
	if o.GetName() == "" {
		return fmt.Errorf("the object has no name")
	}
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
		client.DryRunAll, client.FieldOwner("helm"), client.ForceOwnership)
}
