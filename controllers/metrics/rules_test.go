package metrics

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
)

// The alert rules read these series by name and label value: a rename here
// must fail a test, not silence an alert.
func TestAlertRulesReadSeriesThatExist(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "prometheus", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rules := string(raw)

	registry := prometheus.NewRegistry()
	recorder, err := New(registry)
	if err != nil {
		t.Fatal(err)
	}
	recorder.SetCluster("db", "orders", []VolumeFigures{{
		Volume: Volume{PVC: "orders-1", Role: "data"}, CapacityBytes: 10, Observed: true, UsedBytes: 5, FreeBytes: 5,
		TimeToFullSeconds: 60, InodesTotal: 10, InodesFree: 5, State: "Idle", CriticalUsedPercent: 95,
	}}, map[string]int{"Budget": 1})
	recorder.SetConditions("db", "orders", map[string]bool{"Ready": true})
	recorder.SetWALCause("db", "orders", "Unknown")
	recorder.SetBudget("db", "orders", 1, 1)
	recorder.CountGrowth("db", "orders", "planned", "Started")
	recorder.CountNudge("db", "orders", "Nudged")
	recorder.ObserveReaction("planned", 1)
	recorder.ObserveReconcile(1)
	families, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, family := range families {
		exported[family.GetName()] = true
	}
	for _, name := range regexp.MustCompile(`pgstorage_[a-z_]+`).FindAllString(rules, -1) {
		base := name
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if trimmed := strings.TrimSuffix(name, suffix); trimmed != name && exported[trimmed] {
				base = trimmed
			}
		}
		if !exported[base] {
			t.Errorf("rules.yaml reads %s, which the controller does not export", name)
		}
	}

	known := map[string]map[string]bool{
		LabelState: set(string(v1alpha1.VolumeIdle), string(v1alpha1.VolumeGrowing), string(v1alpha1.VolumeQueued),
			string(v1alpha1.VolumeBlocked), string(v1alpha1.VolumeAtLimit), string(v1alpha1.VolumeStale)),
		LabelCondition: set(v1alpha1.ConditionBudgetExhausted, v1alpha1.ConditionObservationsStale, v1alpha1.ConditionSidecarMissing),
		LabelCause:     set(string(plan.WALArchiveFailing), string(plan.WALSlotRetention), string(plan.WALHealthUnknown)),
	}
	for label, values := range known {
		matcher := regexp.MustCompile(`[{,\s]` + label + `=~?"([^"]*)"`)
		for _, match := range matcher.FindAllStringSubmatch(rules, -1) {
			for _, value := range strings.Split(match[1], "|") {
				if !values[value] {
					t.Errorf("rules.yaml matches %s=%q, which the controller never reports", label, value)
				}
			}
		}
	}
}

func set(values ...string) map[string]bool {
	s := map[string]bool{}
	for _, v := range values {
		s[v] = true
	}
	return s
}
