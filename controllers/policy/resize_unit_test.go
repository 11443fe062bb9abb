package policy

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

func pvcWith(request, capacity string, allocated corev1.ClaimResourceStatus, conditions ...corev1.PersistentVolumeClaimCondition) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{}
	pvc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(request)}
	pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(capacity)}
	if allocated != "" {
		pvc.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{corev1.ResourceStorage: allocated}
	}
	pvc.Status.Conditions = conditions
	return pvc
}

func TestResizeStateFollowsTheExpansionProtocol(t *testing.T) {
	driverError := corev1.PersistentVolumeClaimCondition{Type: corev1.PersistentVolumeClaimControllerResizeError, Status: corev1.ConditionTrue, Message: "quota of the disk SKU exceeded"}
	cases := []struct {
		name                 string
		pvc                  *corev1.PersistentVolumeClaim
		inFlight, infeasible bool
		message              string
	}{
		{name: "request equal to capacity is settled", pvc: pvcWith("10Gi", "10Gi", "")},
		{name: "request above capacity without any status is in flight (clusters without allocatedResourceStatuses)", pvc: pvcWith("12Gi", "10Gi", ""), inFlight: true},
		{name: "NodeResizePending with the PV grown is in flight", pvc: pvcWith("12Gi", "12Gi", corev1.PersistentVolumeClaimNodeResizePending), inFlight: true},
		{name: "a true FileSystemResizePending condition alone is in flight", pvc: pvcWith("12Gi", "12Gi", "", corev1.PersistentVolumeClaimCondition{Type: corev1.PersistentVolumeClaimFileSystemResizePending, Status: corev1.ConditionTrue}), inFlight: true},
		{name: "a false Resizing condition is ignored", pvc: pvcWith("12Gi", "12Gi", "", corev1.PersistentVolumeClaimCondition{Type: corev1.PersistentVolumeClaimResizing, Status: corev1.ConditionFalse})},
		{name: "ControllerResizeInfeasible is infeasible with the driver's message", pvc: pvcWith("12Gi", "10Gi", corev1.PersistentVolumeClaimControllerResizeInfeasible, driverError), inFlight: true, infeasible: true, message: "quota of the disk SKU exceeded"},
		{name: "a ControllerResizeError condition alone is in progress with the driver's words: the resizer retries it", pvc: pvcWith("12Gi", "10Gi", "", driverError), inFlight: true, message: "quota of the disk SKU exceeded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			state := resizeStateOf(tc.pvc)
			if state.inFlight != tc.inFlight || state.infeasible != tc.infeasible || state.message != tc.message {
				t.Fatalf("inFlight %v infeasible %v message %q; want %v %v %q", state.inFlight, state.infeasible, state.message, tc.inFlight, tc.infeasible, tc.message)
			}
		})
	}
	t.Run("errors come first in the planner's conditions, so it reports the driver's words", func(t *testing.T) {
		state := resizeStateOf(pvcWith("12Gi", "10Gi", "", corev1.PersistentVolumeClaimCondition{Type: corev1.PersistentVolumeClaimResizing, Status: corev1.ConditionTrue, Message: "resizing"}, driverError))
		if len(state.conditions) != 2 || state.conditions[0].Type != string(corev1.PersistentVolumeClaimControllerResizeError) {
			t.Fatalf("conditions %+v", state.conditions)
		}
	})
}

func TestGrowthRecords(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	twelve := resource.MustParse("12Gi")
	action := v1alpha1.BudgetAction{Time: metav1.NewTime(now), Kind: v1alpha1.GrowthPlanned, Role: v1alpha1.RoleData, To: twelve}
	decision := func(pvc string, catchUp bool) plan.Decision {
		return plan.Decision{PVC: pvc, Instance: pvc, Role: v1alpha1.RoleData, From: resource.MustParse("10Gi"), To: twelve, Kind: v1alpha1.GrowthPlanned, Trigger: "usedPercent 85 >= 80 on a", CatchUp: catchUp}
	}
	t.Run("an action none of whose patches landed is neither recorded nor charged", func(t *testing.T) {
		history, kept := recordGrowths(nil, []v1alpha1.BudgetAction{action}, map[string]plan.Decision{})
		if len(history) != 0 || len(kept) != 0 {
			t.Fatalf("history %v kept %v", history, kept)
		}
	})
	t.Run("the rest of a growth joins its entry while it is in progress", func(t *testing.T) {
		history, _ := recordGrowths(nil, []v1alpha1.BudgetAction{action}, map[string]plan.Decision{"a": decision("a", false)})
		history, kept := recordGrowths(history, nil, map[string]plan.Decision{"b": decision("b", true)})
		if len(history) != 1 || strings.Join(history[0].PVCs, ",") != "a,b" || len(kept) != 0 {
			t.Fatalf("history %+v", history)
		}
	})
	t.Run("a growth finishes only when every PVC reached the size", func(t *testing.T) {
		history, _ := recordGrowths(nil, []v1alpha1.BudgetAction{action}, map[string]plan.Decision{"a": decision("a", false), "b": decision("b", false)})
		resize := map[string]resizeState{
			"a": resizeStateOf(pvcWith("12Gi", "12Gi", "")),
			"b": resizeStateOf(pvcWith("12Gi", "12Gi", corev1.PersistentVolumeClaimNodeResizePending)),
		}
		if finished := trackGrowths(history, resize, now.Add(time.Minute), 10*time.Minute); len(finished) != 0 {
			t.Fatalf("finished %+v while b is in flight", finished)
		}
		resize["b"] = resizeStateOf(pvcWith("12Gi", "12Gi", ""))
		if finished := trackGrowths(history, resize, now.Add(2*time.Minute), 10*time.Minute); len(finished) != 1 || finished[0].Outcome != v1alpha1.OutcomeSucceeded {
			t.Fatalf("finished %+v", finished)
		}
	})
	t.Run("history keeps the newest 20", func(t *testing.T) {
		var history []v1alpha1.GrowthRecord
		for index := range 25 {
			history = append(history, v1alpha1.GrowthRecord{Trigger: string(rune('a' + index))})
		}
		bounded := boundHistory(history)
		if len(bounded) != v1alpha1.HistoryLength || bounded[0].Trigger != "f" {
			t.Fatalf("%d entries, first %q", len(bounded), bounded[0].Trigger)
		}
	})
}
