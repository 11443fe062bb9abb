package chart

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/pgstorage/cnpg-storage-autoscaler/deploy/grafana/dashboard"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
)

const dashboardKey = "cnpg-storage-autoscaler.json"

// TestGrafanaDashboardIsOnByDefault (issue #20's acceptance): the default
// install ships the dashboard's ConfigMap with the label Grafana's sidecar
// loads, so a cluster with Grafana shows it without a second step; a value
// turns it off.
func TestGrafanaDashboardIsOnByDefault(t *testing.T) {
	found := ofKind(render(t, releaseNamespace, map[string]any{}), "ConfigMap")
	if len(found) != 1 {
		t.Fatalf("the default install renders %d ConfigMaps, want the dashboard's", len(found))
	}
	if configMap := into[corev1.ConfigMap](t, found[0]); configMap.Labels["grafana_dashboard"] != "1" || configMap.Data[dashboardKey] == "" {
		t.Errorf("ConfigMap %s: labels %v, keys %d: want the dashboard with grafana_dashboard=1", configMap.Name, configMap.Labels, len(configMap.Data))
	}
	off := map[string]any{"grafanaDashboard": map[string]any{"enabled": false}}
	if found := ofKind(render(t, releaseNamespace, off), "ConfigMap"); len(found) != 0 {
		t.Errorf("grafanaDashboard.enabled=false renders %d ConfigMaps, want none", len(found))
	}
}

// TestGrafanaDashboardConfigMap: the ConfigMap carries deploy/grafana's
// dashboard unchanged, in the namespace and with the label Grafana's
// sidecar watches.
func TestGrafanaDashboardConfigMap(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "grafana", dashboardKey))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		values     map[string]any
		namespace  string
		labels     map[string]string
		noLabel    string
		annotation string
	}{
		{
			name:      "defaults: kube-prometheus-stack's sidecar label",
			values:    map[string]any{"enabled": true},
			namespace: releaseNamespace,
			labels:    map[string]string{"grafana_dashboard": "1", "app.kubernetes.io/name": "cnpg-storage-autoscaler"},
		},
		{
			name: "Grafana's namespace, its own label, a folder",
			values: map[string]any{
				"enabled": true, "namespace": "monitoring", "sidecarLabel": "grafana.example/dashboard", "sidecarLabelValue": "true",
				"labels": map[string]any{"team": "dba"}, "annotations": map[string]any{"grafana_folder": "PostgreSQL"},
			},
			namespace:  "monitoring",
			labels:     map[string]string{"grafana.example/dashboard": "true", "team": "dba"},
			noLabel:    "grafana_dashboard",
			annotation: "PostgreSQL",
		},
		{
			name:      "no sidecar label",
			values:    map[string]any{"enabled": true, "sidecarLabel": ""},
			namespace: releaseNamespace,
			noLabel:   "grafana_dashboard",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			found := ofKind(render(t, releaseNamespace, map[string]any{"grafanaDashboard": tc.values}), "ConfigMap")
			if len(found) != 1 {
				t.Fatalf("rendered %d ConfigMaps, want the dashboard's", len(found))
			}
			configMap := into[corev1.ConfigMap](t, found[0])
			if configMap.Namespace != tc.namespace {
				t.Errorf("namespace %q, want %q", configMap.Namespace, tc.namespace)
			}
			for key, value := range tc.labels {
				if configMap.Labels[key] != value {
					t.Errorf("label %s=%q, want %q (labels %v)", key, configMap.Labels[key], value, configMap.Labels)
				}
			}
			if _, set := configMap.Labels[tc.noLabel]; tc.noLabel != "" && set {
				t.Errorf("label %s is set: %v", tc.noLabel, configMap.Labels)
			}
			if got := configMap.Annotations["grafana_folder"]; got != tc.annotation {
				t.Errorf("annotation grafana_folder %q, want %q", got, tc.annotation)
			}
			got, ok := configMap.Data[dashboardKey]
			if !ok || len(configMap.Data) != 1 {
				t.Fatalf("data keys %v, want only %s", slices.Sorted(maps.Keys(configMap.Data)), dashboardKey)
			}
			if got != strings.TrimSuffix(string(want), "\n") {
				t.Errorf("the ConfigMap's dashboard is not deploy/grafana/%s: run `make manifests`", dashboardKey)
			}
			var board struct {
				UID string `json:"uid"`
			}
			if err := json.Unmarshal([]byte(got), &board); err != nil || board.UID != dashboard.UID {
				t.Errorf("the ConfigMap's dashboard does not parse as the dashboard %q: uid %q, %v", dashboard.UID, board.UID, err)
			}
		})
	}
}
