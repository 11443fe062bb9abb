package plan

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

func TestRetryTargetIsHalfTheRefusedStepInWholeGiB(t *testing.T) {
	cases := []struct {
		name                        string
		capacityBytes, refusedBytes int64
		want                        int64
	}{
		{name: "half of a 2Gi step is 1Gi", capacityBytes: gi(10), refusedBytes: gi(12), want: gi(11)},
		{name: "half of a 10Gi step is 5Gi", capacityBytes: gi(50), refusedBytes: gi(60), want: gi(55)},
		{name: "half of an odd step rounds up to whole GiB", capacityBytes: gi(50), refusedBytes: gi(53), want: gi(52)},
		{name: "a 1Gi step leaves no smaller whole GiB", capacityBytes: gi(10), refusedBytes: gi(11), want: 0},
		{name: "at least one GiB above a capacity off the GiB grid", capacityBytes: gi(10) + gi(1)/2, refusedBytes: gi(13), want: gi(12)},
		{name: "no capacity known: no retry", capacityBytes: 0, refusedBytes: gi(12), want: 0},
		{name: "a refused request not above capacity: no retry", capacityBytes: gi(12), refusedBytes: gi(12), want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryTarget(tc.capacityBytes, tc.refusedBytes); got != tc.want {
				t.Fatalf("retryTarget(%s, %s) = %s, want %s", formatBytes(tc.capacityBytes), formatBytes(tc.refusedBytes), formatBytes(got), formatBytes(tc.want))
			}
		})
	}
}

// refusedGrowth is orders-1's data growth 50Gi -> 60Gi, patched 3 minutes
// ago and refused by the driver.
func refusedGrowth(t *testing.T, onInfeasible v1alpha1.InfeasibleAction, allocatedStatus string) *snapshotBuilder {
	t.Helper()
	grownAt := metav1.NewTime(testNow.Add(-3 * time.Minute))
	b := oneInstance(t, 85, 10).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
		spec.Volumes.Data.OnInfeasible = onInfeasible
	}).pvc("orders-1", func(pvc *PVC) {
		pvc.Request = giQuantity(60)
		pvc.AllocatedResources = giQuantity(60)
		pvc.AllocatedResourceStatus = allocatedStatus
		pvc.ResizeConditions = []ResizeCondition{{Type: "ControllerResizeError", Message: "disk cannot exceed 55Gi on this SKU"}}
	})
	b.snapshot.History = []v1alpha1.GrowthRecord{{
		Time: grownAt, Role: v1alpha1.RoleData, PVCs: []string{"orders-1"}, From: giQuantity(50), To: giQuantity(60),
		Kind: v1alpha1.GrowthPlanned, Trigger: "usedPercent 85 >= 80 on orders-1", Outcome: v1alpha1.OutcomeInProgress,
	}}
	b.snapshot.Budget = []v1alpha1.BudgetAction{{Time: grownAt, Kind: v1alpha1.GrowthPlanned, Role: v1alpha1.RoleData, To: giQuantity(60)}}
	return b
}

func TestAnInfeasibleGrowthIsRetriedOnceAtHalfTheStepWhenThePolicySaysRetry(t *testing.T) {
	cases := []struct {
		name       string
		build      func(t *testing.T) Snapshot
		wantRetry  int64 // GiB; 0: no retry
		wantState  v1alpha1.VolumeState
		wantReason string
	}{
		{
			name: "Retry lowers a ControllerResizeInfeasible request to half the step",
			build: func(t *testing.T) Snapshot {
				return refusedGrowth(t, v1alpha1.InfeasibleRetry, "ControllerResizeInfeasible").build()
			},
			wantRetry:  55,
			wantState:  v1alpha1.VolumeGrowing,
			wantReason: "resize to 60Gi refused (ControllerResizeInfeasible: disk cannot exceed 55Gi on this SKU); spec.volumes.data.onInfeasible is Retry: lowering the request to 55Gi (capacity 50Gi plus half the refused step), once",
		},
		{
			name: "Retry also follows a growth already recorded Failed",
			build: func(t *testing.T) Snapshot {
				b := refusedGrowth(t, v1alpha1.InfeasibleRetry, "ControllerResizeInfeasible")
				b.snapshot.History[0].Outcome = v1alpha1.OutcomeFailed
				return b.build()
			},
			wantRetry: 55, wantState: v1alpha1.VolumeGrowing, wantReason: "lowering the request to 55Gi",
		},
		{
			name: "Hold (the default) leaves the refused request and blocks",
			build: func(t *testing.T) Snapshot {
				return refusedGrowth(t, v1alpha1.InfeasibleHold, "ControllerResizeInfeasible").build()
			},
			wantState:  v1alpha1.VolumeBlocked,
			wantReason: "resize to 60Gi failed (ControllerResizeInfeasible): disk cannot exceed 55Gi on this SKU; no further growth",
		},
		{
			name: "a retryable error is no refusal: nothing is lowered",
			build: func(t *testing.T) Snapshot {
				return refusedGrowth(t, v1alpha1.InfeasibleRetry, "ControllerResizeInProgress").build()
			},
			wantState:  v1alpha1.VolumeGrowing,
			wantReason: "resize to 60Gi in progress",
		},
		{
			name: "NodeResizeInfeasible is not retried: the disk grew, only the filesystem failed",
			build: func(t *testing.T) Snapshot {
				return refusedGrowth(t, v1alpha1.InfeasibleRetry, "NodeResizeInfeasible").build()
			},
			wantState:  v1alpha1.VolumeBlocked,
			wantReason: "failed (NodeResizeInfeasible)",
		},
		{
			name: "the retry is made once: a refused retry holds with the driver's words",
			build: func(t *testing.T) Snapshot {
				b := refusedGrowth(t, v1alpha1.InfeasibleRetry, "ControllerResizeInfeasible")
				b.snapshot.History[0].Outcome = v1alpha1.OutcomeFailed
				b.snapshot.History = append(b.snapshot.History, v1alpha1.GrowthRecord{
					Time: metav1.NewTime(testNow.Add(-time.Minute)), Role: v1alpha1.RoleData, PVCs: []string{"orders-1"},
					From: giQuantity(60), To: giQuantity(55), Kind: v1alpha1.GrowthPlanned, Outcome: v1alpha1.OutcomeInProgress, Retry: true,
				})
				return b.pvc("orders-1", func(pvc *PVC) { pvc.Request, pvc.AllocatedResources = giQuantity(55), giQuantity(55) }).build()
			},
			wantState:  v1alpha1.VolumeBlocked,
			wantReason: "resize to 55Gi failed (ControllerResizeInfeasible): disk cannot exceed 55Gi on this SKU; no further growth until the storage driver's problem is fixed; this was the one smaller retry (spec.volumes.data.onInfeasible is Retry) after 60Gi was refused",
		},
		{
			name: "a request the add-on did not set is not lowered",
			build: func(t *testing.T) Snapshot {
				return refusedGrowth(t, v1alpha1.InfeasibleRetry, "ControllerResizeInfeasible").pvc("orders-1", func(pvc *PVC) {
					pvc.Request, pvc.AllocatedResources = giQuantity(70), giQuantity(70)
				}).build()
			},
			wantState:  v1alpha1.VolumeBlocked,
			wantReason: "this request was not set by the add-on",
		},
		{
			name: "no smaller whole GiB: hold, saying so",
			build: func(t *testing.T) Snapshot {
				b := refusedGrowth(t, v1alpha1.InfeasibleRetry, "ControllerResizeInfeasible").pvc("orders-1", func(pvc *PVC) {
					pvc.Request, pvc.AllocatedResources = giQuantity(51), giQuantity(51)
				})
				b.snapshot.History[0].To = giQuantity(51)
				return b.build()
			},
			wantState:  v1alpha1.VolumeBlocked,
			wantReason: "no whole GiB lies between the capacity 50Gi and the refused request",
		},
		{
			name: "dry-run lowers nothing",
			build: func(t *testing.T) Snapshot {
				return refusedGrowth(t, v1alpha1.InfeasibleRetry, "ControllerResizeInfeasible").policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
					spec.Mode = v1alpha1.ModeDryRun
				}).build()
			},
			wantState: v1alpha1.VolumeBlocked,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snapshot := tc.build(t)
			result := Plan(snapshot)
			switch {
			case tc.wantRetry == 0 && len(result.Retries) != 0:
				t.Fatalf("retries %+v, want none", result.Retries)
			case tc.wantRetry != 0 && (len(result.Retries) != 1 || result.Retries[0].To.Cmp(giQuantity(tc.wantRetry)) != 0 ||
				result.Retries[0].Refused.Cmp(giQuantity(60)) != 0 || !result.Retries[0].RefusedGrowth.Equal(&snapshot.History[0].Time)):
				t.Fatalf("retries %+v, want one from 60Gi to %dGi of the recorded growth", result.Retries, tc.wantRetry)
			}
			if len(result.Decisions) != 0 || len(result.NewActions) != 0 {
				t.Errorf("decisions %+v, new actions %+v: a refused growth is neither grown again nor charged again", result.Decisions, result.NewActions)
			}
			row := rowFor(t, result, "orders-1")
			if row.State != tc.wantState || !strings.Contains(row.Reason, tc.wantReason) {
				t.Errorf("row %s %q, want %s containing %q", row.State, row.Reason, tc.wantState, tc.wantReason)
			}
		})
	}
}

func TestAPVCKeptSmallerByARetryIsNotCaughtUpToTheRefusedSize(t *testing.T) {
	b := threeInstances(t, 60, []float64{50, 50, 50}, 10, []float64{10, 10, 10}).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
		spec.Volumes.Data.OnInfeasible = v1alpha1.InfeasibleRetry
	}).pvc("orders-1", func(pvc *PVC) { pvc.Request, pvc.Capacity = giQuantity(55), giQuantity(55) })
	b.snapshot.History = []v1alpha1.GrowthRecord{
		{Time: metav1.NewTime(testNow.Add(-time.Hour)), Role: v1alpha1.RoleData, PVCs: []string{"orders-1", "orders-2", "orders-3"},
			From: giQuantity(50), To: giQuantity(60), Kind: v1alpha1.GrowthPlanned, Outcome: v1alpha1.OutcomeFailed},
		{Time: metav1.NewTime(testNow.Add(-50 * time.Minute)), Role: v1alpha1.RoleData, PVCs: []string{"orders-1"},
			From: giQuantity(60), To: giQuantity(55), Kind: v1alpha1.GrowthPlanned, Outcome: v1alpha1.OutcomeSucceeded, Retry: true},
	}
	result := Plan(b.build())
	if decision := decisionFor(result, "orders-1"); decision != nil {
		t.Fatalf("orders-1 caught up to the refused size: %+v", decision)
	}
}
