package plan

import (
	"encoding/json"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// FuzzPlan decodes arbitrary bytes as a snapshot and plans it: whatever a
// saved or hand-written snapshot holds, the planner must not panic, and
// must still never shrink a PVC. The seed corpus runs with go test.
func FuzzPlan(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		snapshot, err := DecodeSnapshot(data)
		if err != nil {
			return
		}
		result := Plan(snapshot)
		for _, decision := range result.Decisions {
			if decision.To.Cmp(decision.From) <= 0 {
				t.Fatalf("%s: decision from %s to %s does not grow", decision.PVC, decision.From.String(), decision.To.String())
			}
		}
	})
}

func fuzzSeeds(f *testing.F) [][]byte {
	f.Helper()
	windowed := oneInstance(f, 85, 97).policy(nightlyWindow).observed("orders-1", failingArchive).build()
	broken := oneInstance(f, 100, 100).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
		spec.MaintenanceWindows = []v1alpha1.MaintenanceWindow{
			{Schedule: "TZ=UTC", Duration: metav1.Duration{Duration: time.Hour}, TimeZone: "Mars/Olympus"},
			{Schedule: "0 0 30 2 *", Duration: metav1.Duration{Duration: -time.Hour}},
		}
		spec.Budget.MaxActionsPerDay = 0
		spec.Volumes.Data.Step.Max = giQuantity(0)
		spec.Volumes.Data.TargetFreePercent = 100
	}).build()
	seeds := [][]byte{
		[]byte(`{}`),
		[]byte(`{"now":"2026-05-01T10:00:00Z","pvcs":[{"name":"x","role":"data","request":"9223372036854775807","capacity":"1"}]}`),
		[]byte(`{"policy":{"volumes":{"data":{"limit":"-5Gi","step":{"percent":-3}}}},"pvcs":[{"name":"a","role":"bogus","request":"1Gi"}]}`),
	}
	for _, snapshot := range []Snapshot{windowed, broken, nineInstanceSnapshot(f)} {
		encoded, err := json.Marshal(snapshot)
		if err != nil {
			f.Fatalf("encode seed: %v", err)
		}
		seeds = append(seeds, encoded)
	}
	return seeds
}
