package chart

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
)

// TestKustomizeIsTheChart builds deploy/kustomize with kustomize's own
// library and compares it, object by object, with the chart rendered with
// its default values: the kustomize install is the chart's, never a
// hand-edited copy (`make manifests` regenerates it, `make verify` catches a
// stale one in the tree).
func TestKustomizeIsTheChart(t *testing.T) {
	kustomizer := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := kustomizer.Run(filesys.MakeFsOnDisk(), filepath.Join(testenv.RepoRoot(), "deploy", "kustomize"))
	if err != nil {
		t.Fatalf("kustomize build deploy/kustomize: %v", err)
	}
	built := map[string]map[string]any{}
	for _, r := range resources.Resources() {
		object, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		built[key(r.GetKind(), r.GetNamespace(), r.GetName())] = normalized(t, object)
	}
	namespace := built[key("Namespace", "", releaseNamespace)]
	if namespace == nil {
		t.Errorf("deploy/kustomize does not create the namespace %s", releaseNamespace)
	}
	delete(built, key("Namespace", "", releaseNamespace))

	rendered := map[string]map[string]any{}
	for _, o := range render(t, releaseNamespace, map[string]any{}) {
		rendered[key(o.GetKind(), o.GetNamespace(), o.GetName())] = normalized(t, o.Object)
	}
	for k, want := range rendered {
		got, ok := built[k]
		switch {
		case !ok:
			t.Errorf("deploy/kustomize lacks %s: run `make manifests`", k)
		case !reflect.DeepEqual(got, want):
			t.Errorf("deploy/kustomize differs from the chart in %s: run `make manifests`\nkustomize: %s\nchart:     %s", k, compact(got), compact(want))
		}
	}
	for k := range built {
		if rendered[k] == nil {
			t.Errorf("deploy/kustomize has %s, which the chart does not render: run `make manifests`", k)
		}
	}
}

// normalized makes the two decoders' numbers comparable (JSON's float64).
func normalized(t *testing.T, object map[string]any) map[string]any {
	t.Helper()
	data, err := json.Marshal(object)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func compact(object map[string]any) string {
	data, _ := json.Marshal(object)
	if len(data) > 600 {
		return string(data[:600]) + "…"
	}
	return string(data)
}

func key(kind, namespace, name string) string { return kind + " " + namespace + "/" + name }
