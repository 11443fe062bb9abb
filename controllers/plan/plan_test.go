package plan

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

func TestSizing(t *testing.T) {
	t.Run("uniform: one triggered instance grows every instance of the role to one size, as one action", func(t *testing.T) {
		result := Plan(threeInstances(t, 50, []float64{40, 85, 30}, 10, []float64{10, 10, 10}).build())
		for _, pvc := range []string{"orders-1", "orders-2", "orders-3"} {
			if decision := decisionFor(result, pvc); decision == nil || bytesOf(decision.To) != gi(60) {
				t.Fatalf("%s: %+v, want grown to 60Gi", pvc, decision)
			}
		}
		if len(result.NewActions) != 1 || result.NewActions[0].Role != v1alpha1.RoleData {
			t.Fatalf("actions %+v, want one data action", result.NewActions)
		}
		if !strings.Contains(rowFor(t, result, "orders-1").Reason, "grows with role data to keep its instances the same size") {
			t.Fatalf("follower reason: %s", rowFor(t, result, "orders-1").Reason)
		}
		if got := effectiveSize(result, v1alpha1.RoleData, ""); got != gi(60) {
			t.Fatalf("effective data size %s, want 60Gi", formatBytes(got))
		}
		if got := effectiveSize(result, v1alpha1.RoleWAL, ""); got != gi(10) {
			t.Fatalf("effective WAL size %s, want 10Gi", formatBytes(got))
		}
	})
	t.Run("uniform: the role's target is the largest target of its triggered instances", func(t *testing.T) {
		result := Plan(threeInstances(t, 50, []float64{85, 99, 30}, 10, []float64{10, 10, 10}).build())
		for _, pvc := range []string{"orders-1", "orders-2", "orders-3"} {
			if decision := decisionFor(result, pvc); decision == nil || bytesOf(decision.To) != gi(67) || decision.Kind != v1alpha1.GrowthEmergency {
				t.Fatalf("%s: %+v, want an emergency growth to 67Gi", pvc, decision)
			}
		}
	})
	t.Run("uniform: no churn for PVCs already at the effective size", func(t *testing.T) {
		result := Plan(threeInstances(t, 50, []float64{40, 50, 30}, 10, []float64{10, 10, 10}).build())
		if len(result.Decisions) != 0 {
			t.Fatalf("decisions %+v, want none", result.Decisions)
		}
	})
	t.Run("uniform: a new replica's small PVC catches up with no trigger, no window and no budget action", func(t *testing.T) {
		b := threeInstances(t, 60, []float64{40, 50, 30}, 10, []float64{10, 10, 10}).policy(nightlyWindow).
			pvc("orders-3", func(pvc *PVC) { pvc.Request, pvc.Capacity = giQuantity(20), giQuantity(20) })
		b.snapshot.Observations = b.snapshot.Observations[:2]
		result := Plan(b.build())
		decision := decisionFor(result, "orders-3")
		if decision == nil || !decision.CatchUp || bytesOf(decision.To) != gi(60) {
			t.Fatalf("orders-3: %+v, want a catch-up to 60Gi", decision)
		}
		if len(result.NewActions) != 0 {
			t.Fatalf("a catch-up charged the budget: %+v", result.NewActions)
		}
	})
	t.Run("uniform: a new replica's claim that has not bound yet waits for its volume, then catches up", func(t *testing.T) {
		// The API server refuses any change to an unbound claim's spec
		// ("spec is immutable after creation except resources.requests ...
		// for bound claims"): patching it only fails, as it did on the
		// sandbox (#23). Binding updates the PVC, which plans again.
		b := threeInstances(t, 60, []float64{40, 50, 30}, 10, []float64{10, 10, 10}).
			pvc("orders-3", func(pvc *PVC) { pvc.Request, pvc.Capacity, pvc.Unbound = giQuantity(20), resource.Quantity{}, true })
		b.snapshot.Observations = b.snapshot.Observations[:2]
		result := Plan(b.build())
		if decision := decisionFor(result, "orders-3"); decision != nil {
			t.Fatalf("orders-3 is not bound, yet: %+v", decision)
		}
		row := rowFor(t, result, "orders-3")
		if row.Gate != GateInFlight || !strings.Contains(row.Reason, "not bound") {
			t.Fatalf("orders-3: %s %q, want held until it binds", row.Gate, row.Reason)
		}
		b.pvc("orders-3", func(pvc *PVC) { pvc.Capacity, pvc.Unbound = giQuantity(20), false })
		if decision := decisionFor(Plan(b.build()), "orders-3"); decision == nil || !decision.CatchUp || bytesOf(decision.To) != gi(60) {
			t.Fatalf("orders-3 bound: %+v, want a catch-up to 60Gi", decision)
		}
	})
	t.Run("uniform: a WAL hold holds every instance's WAL volume", func(t *testing.T) {
		result := Plan(threeInstances(t, 50, []float64{10, 10, 10}, 10, []float64{10, 85, 10}).observed("orders-1", failingArchive).build())
		if len(result.Decisions) != 0 {
			t.Fatalf("decisions %+v, want none", result.Decisions)
		}
		if row := rowFor(t, result, "orders-2-wal"); row.Gate != GateWALSafety {
			t.Fatalf("orders-2-wal: %s %s", row.Gate, row.Reason)
		}
	})
	t.Run("per-instance: only the triggered instance grows, and each growth is an action", func(t *testing.T) {
		result := Plan(threeInstances(t, 50, []float64{40, 85, 86}, 10, []float64{10, 10, 10}).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
			spec.Sizing = v1alpha1.SizingPerInstance
		}).build())
		if decisionFor(result, "orders-1") != nil || decisionFor(result, "orders-2") == nil || decisionFor(result, "orders-3") == nil {
			t.Fatalf("decisions %+v, want orders-2 and orders-3 only", result.Decisions)
		}
		if len(result.NewActions) != 2 {
			t.Fatalf("actions %+v, want two", result.NewActions)
		}
	})
	t.Run("per-instance: actions are keyed by instance, and a growth continuing is not charged again", func(t *testing.T) {
		perInstance := func(spec *v1alpha1.StorageAutoscalePolicySpec) { spec.Sizing = v1alpha1.SizingPerInstance }
		first := Plan(threeInstances(t, 50, []float64{40, 85, 30}, 10, []float64{10, 10, 10}).policy(perInstance).build())
		if len(first.NewActions) != 1 || first.NewActions[0].Instance != "orders-2" {
			t.Fatalf("actions %+v, want one action of instance orders-2", first.NewActions)
		}
		// The same growth planned again (its patch not yet seen) is that
		// growth continuing; the same size for another instance is not.
		again := threeInstances(t, 50, []float64{40, 85, 86}, 10, []float64{10, 10, 10}).policy(perInstance)
		again.snapshot.Budget = first.Budget.Actions
		second := Plan(again.build())
		if len(second.NewActions) != 1 || second.NewActions[0].Instance != "orders-3" {
			t.Fatalf("actions %+v, want only orders-3 charged", second.NewActions)
		}
	})
	t.Run("tablespaces grow by name with their own rule", func(t *testing.T) {
		result := Plan(oneInstance(t, 10, 10).volume("orders-1", v1alpha1.RoleTablespace, "idx", 10, 85).
			policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
				rule := *spec.Volumes.Tablespaces.Default
				rule.Limit = quantityPtr(giQuantity(11))
				spec.Volumes.Tablespaces.ByName = map[string]v1alpha1.VolumePolicy{"idx": rule}
			}).build())
		if decision := decisionFor(result, "orders-1-tbs-idx"); decision == nil || bytesOf(decision.To) != gi(11) {
			t.Fatalf("idx: %+v, want grown to its own limit 11Gi", decision)
		}
		if got := result.StatusEffectiveSizes().Tablespaces["idx"]; bytesOf(got) != gi(11) {
			t.Fatalf("status effective size of idx %s", got.String())
		}
	})
}

func TestResultForTheController(t *testing.T) {
	t.Run("a queued growth keeps its queuedAt and asks to be requeued when the window opens", func(t *testing.T) {
		queuedAt := metav1.NewTime(testNow.Add(-3 * time.Hour))
		b := oneInstance(t, 85, 10).policy(nightlyWindow)
		b.snapshot.Pending = []v1alpha1.PendingGrowth{{Role: v1alpha1.RoleData, To: giQuantity(58), QueuedAt: queuedAt}}
		result := Plan(b.build())
		if len(result.Pending) != 1 || !result.Pending[0].QueuedAt.Equal(&queuedAt) {
			t.Fatalf("pending %+v, want the earlier queuedAt", result.Pending)
		}
		opens := time.Date(2026, 5, 2, 2, 0, 0, 0, time.UTC)
		if result.Pending[0].NotBefore == nil || !result.Pending[0].NotBefore.Time.Equal(opens) {
			t.Fatalf("notBefore %v, want %s", result.Pending[0].NotBefore, opens)
		}
		// The observation goes stale before the window opens: that is the
		// first thing that can change.
		if staleAt := testNow.Add(-30 * time.Second).Add(3 * time.Minute); !result.RequeueAt.Equal(staleAt) {
			t.Fatalf("requeue at %s, want %s", result.RequeueAt, staleAt)
		}
	})
	t.Run("dry-run patches nothing, charges nothing and keeps the effective sizes", func(t *testing.T) {
		result := Plan(oneInstance(t, 99, 10).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) { spec.Mode = v1alpha1.ModeDryRun }).build())
		if len(result.Decisions) != 0 || len(result.WouldGrow) != 1 || len(result.NewActions) != 0 || len(result.Budget.Actions) != 0 {
			t.Fatalf("dry run: decisions %d, would grow %d, actions %d", len(result.Decisions), len(result.WouldGrow), len(result.NewActions))
		}
		if got := effectiveSize(result, v1alpha1.RoleData, ""); got != gi(50) {
			t.Fatalf("effective size %s, want 50Gi", formatBytes(got))
		}
	})
	t.Run("a growth is recorded as one budget action at the plan time rounded up to the second", func(t *testing.T) {
		now := testNow.Add(300 * time.Millisecond)
		result := Plan(oneInstance(t, 85, 10).at(now).build())
		if len(result.NewActions) != 1 || !result.NewActions[0].Time.Time.Equal(testNow.Add(time.Second)) {
			t.Fatalf("actions %+v", result.NewActions)
		}
		if result.Budget.PlannedUsed != 1 || result.Budget.PlannedLeft != 3 || result.Budget.EmergencyLeft != 5 {
			t.Fatalf("budget %+v", result.Budget)
		}
	})
	t.Run("rows carry the figures status.volumes shows", func(t *testing.T) {
		result := Plan(oneInstance(t, 50, 10).observedVolume("orders-1", func(observed *v1alpha1.ObservedVolume) {
			observed.FillRateBytesPerSecond = mebibyte
		}).build())
		status := rowFor(t, result, "orders-1").Status()
		if !status.Primary || status.UsedPercent < 49.9 || status.UsedPercent > 50.1 || status.TimeToFull == nil || status.State != v1alpha1.VolumeIdle {
			t.Fatalf("status row %+v", status)
		}
		if held := rowFor(t, Plan(oneInstance(t, 85, 10).policy(nightlyWindow).build()), "orders-1").Status(); held.Gate != string(GateWindow) {
			t.Fatalf("status row of a queued PVC has gate %q, want %q", held.Gate, GateWindow)
		}
		if !strings.Contains(status.Reason, "used, grows at 80%") {
			t.Fatalf("idle reason %q", status.Reason)
		}
	})
}
