package chart

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
)

// defaultRunbookBase is the runbook base URL rules.yaml is written with;
// the chart's prometheusRule.runbookBaseURL replaces it.
const defaultRunbookBase = "https://github.com/pgstorage/cnpg-storage-autoscaler/blob/main/docs/runbooks/"

// rulesFile is deploy/prometheus/rules.yaml, parsed, with its runbook
// links pointing at runbookBase.
func rulesFile(t *testing.T, runbookBase string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "prometheus", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	raw = []byte(strings.ReplaceAll(string(raw), "runbook_url: "+defaultRunbookBase, "runbook_url: "+runbookBase))
	var rules map[string]any
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("parse deploy/prometheus/rules.yaml: %v", err)
	}
	return rules
}

// alerts returns every alerting rule of a rules document (its spec).
func alerts(t *testing.T, spec map[string]any) []map[string]any {
	t.Helper()
	groups, _, err := unstructured.NestedSlice(spec, "groups")
	if err != nil || len(groups) == 0 {
		t.Fatalf("no rule groups (%v)", err)
	}
	var found []map[string]any
	for _, group := range groups {
		rules, _, _ := unstructured.NestedSlice(group.(map[string]any), "rules")
		for _, rule := range rules {
			if rule := rule.(map[string]any); rule["alert"] != nil {
				found = append(found, rule)
			}
		}
	}
	return found
}

// TestPrometheusRuleIsOffByDefault: the Prometheus operator's CRD may be
// absent; the chart must install without it.
func TestPrometheusRuleIsOffByDefault(t *testing.T) {
	if found := ofKind(render(t, releaseNamespace, map[string]any{}), "PrometheusRule"); len(found) != 0 {
		t.Errorf("the default install renders %d PrometheusRules, want none", len(found))
	}
}

// TestPrometheusRuleRendersTheRulesFile: one source of the alerts, with the
// runbook base URL and the labels from values.
func TestPrometheusRuleRendersTheRulesFile(t *testing.T) {
	const base = "https://wiki.example/runbooks/pgstorage/"
	objects := render(t, releaseNamespace, map[string]any{"prometheusRule": map[string]any{
		"enabled": true, "labels": map[string]any{"release": "kube-prometheus"}, "runbookBaseURL": base,
	}})
	rule := one(t, objects, "PrometheusRule")
	if got := rule.GetLabels()["release"]; got != "kube-prometheus" {
		t.Errorf("label release = %q, want kube-prometheus", got)
	}
	if rule.GetNamespace() != releaseNamespace {
		t.Errorf("namespace %q, want %q", rule.GetNamespace(), releaseNamespace)
	}
	spec, _, _ := unstructured.NestedMap(rule.Object, "spec")
	if want := rulesFile(t, base); !reflect.DeepEqual(spec, want) {
		t.Errorf("the PrometheusRule's spec is not deploy/prometheus/rules.yaml with the runbook base %s: run `make manifests`", base)
	}
}

// TestAlertsFollowTheConventions: severity, the CNPG cluster label, and a
// runbook that exists for every alert.
func TestAlertsFollowTheConventions(t *testing.T) {
	found := alerts(t, rulesFile(t, defaultRunbookBase))
	if len(found) < 14 {
		t.Fatalf("%d alerts in deploy/prometheus/rules.yaml, want the 14 of issue 20", len(found))
	}
	for _, alert := range found {
		name := alert["alert"].(string)
		labels, _ := alert["labels"].(map[string]any)
		annotations, _ := alert["annotations"].(map[string]any)
		if severity := labels["severity"]; severity != "warning" && severity != "critical" {
			t.Errorf("%s: severity %v, want warning or critical", name, severity)
		}
		// Controller-wide alerts have no cluster to name.
		controllerWide := name == "PGStorageControllerDown" || name == "PGStorageReactionLatencyHigh"
		if got := labels["cnpg_cluster"]; !controllerWide && got != "{{ $labels.cluster }}" {
			t.Errorf("%s: cnpg_cluster label %v, want {{ $labels.cluster }}", name, got)
		}
		for _, key := range []string{"summary", "description"} {
			if text, _ := annotations[key].(string); text == "" {
				t.Errorf("%s: no %s annotation", name, key)
			}
		}
		if got, want := annotations["runbook_url"], defaultRunbookBase+name+".md"; got != want {
			t.Errorf("%s: runbook_url %v, want %s", name, got, want)
		}
		if _, err := os.Stat(filepath.Join(testenv.RepoRoot(), "docs", "runbooks", name+".md")); err != nil {
			t.Errorf("%s: no runbook: %v", name, err)
		}
	}
}
