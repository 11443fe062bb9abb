package policy_test

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
)

// Data 10Gi and WAL 2Gi at 85 % used, trigger 80 %, targetFreePercent 25,
// step 20 % (min 1Gi), generic provider rounding to 1Gi:
// data: max(10Gi + 2Gi, 0.85*10/0.75 = 11.4Gi) = 12Gi;
// WAL: max(2Gi + 1Gi (step min), 0.85*2/0.75 = 2.3Gi) = 3Gi.
const threeInstancePolicy = `
clusterRef: {name: orders}
volumes:
  data: {limit: 100Gi}
  wal: {limit: 10Gi}
`

func conditionIs(policy *v1alpha1.StorageAutoscalePolicy, conditionType string, status bool) bool {
	condition := meta.FindStatusCondition(policy.Status.Conditions, conditionType)
	if condition == nil || condition.ObservedGeneration != policy.Generation {
		return false
	}
	return (condition.Status == "True") == status
}

func conditionMessage(policy *v1alpha1.StorageAutoscalePolicy, conditionType string) string {
	if condition := meta.FindStatusCondition(policy.Status.Conditions, conditionType); condition != nil {
		return condition.Reason + ": " + condition.Message
	}
	return "(no condition " + conditionType + ")"
}

func rowOf(policy *v1alpha1.StorageAutoscalePolicy, pvc string) *v1alpha1.VolumeStatus {
	for index := range policy.Status.Volumes {
		if policy.Status.Volumes[index].PVC == pvc {
			return &policy.Status.Volumes[index]
		}
	}
	return nil
}

func TestObservationsOverTheTriggerGrowEveryPVCOfTheRoleToThePlannedSize(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	startController(t, w.namespace, clock, policy.Config{})
	w.createPolicy("orders", threeInstancePolicy)
	w.observeAll(40, 30)
	w.waitForStatus("orders", "an idle first status", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return p.Status.State == "Idle" && len(p.Status.Volumes) == 6, p.Status.State
	})

	// The primary's data volume and a replica's WAL volume cross the trigger.
	w.observe("orders-1", map[string]float64{"orders-1": 85, "orders-1-wal": 30})
	w.observe("orders-2", map[string]float64{"orders-2": 40, "orders-2-wal": 85})

	want := map[string]resource.Quantity{}
	for _, instance := range w.instances {
		want[instance] = gi(12)
		want[instance+"-wal"] = gi(3)
	}
	eventually(t, "every PVC patched to the planned size", func() (bool, string) {
		state := ""
		ok := true
		for _, name := range sortedNames(want) {
			got := request(w.pvc(name))
			state += fmt.Sprintf("%s=%s ", name, got.String())
			ok = ok && got.Cmp(want[name]) == 0
		}
		return ok, state
	})
	p := w.waitForStatus("orders", "status reporting both growths", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return len(p.Status.History) == 2 && p.Status.State == "Growing", fmt.Sprintf("state %s, history %+v", p.Status.State, p.Status.History)
	})

	for _, name := range sortedNames(want) {
		row := rowOf(p, name)
		wanted := want[name]
		if row == nil || row.Requested == nil || row.Requested.Cmp(wanted) != 0 || row.State != v1alpha1.VolumeGrowing || row.LastGrowth == nil {
			t.Errorf("row of %s: %+v; want requested %s, state Growing, lastGrowth set", name, row, wanted.String())
		}
	}
	if got := p.Status.EffectiveSizes; got.Data == nil || got.Data.Cmp(gi(12)) != 0 || got.WAL == nil || got.WAL.Cmp(gi(3)) != 0 {
		t.Errorf("effective sizes %+v; want data 12Gi, wal 3Gi", got)
	}
	for _, record := range p.Status.History {
		if record.Outcome != v1alpha1.OutcomeInProgress || len(record.PVCs) != 3 || record.Kind != v1alpha1.GrowthPlanned || record.Trigger == "" {
			t.Errorf("history entry %+v; want a planned growth of 3 PVCs in progress, with its trigger", record)
		}
	}
	if len(p.Status.Budget.Actions) != 2 || p.Status.Budget.PlannedUsed != 2 {
		t.Errorf("budget %+v; want two planned actions", p.Status.Budget)
	}
	for _, conditionType := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionActive, v1alpha1.ConditionResizeInProgress} {
		if !conditionIs(p, conditionType, true) {
			t.Errorf("condition %s not true: %s", conditionType, conditionMessage(p, conditionType))
		}
	}
	for _, conditionType := range []string{v1alpha1.ConditionBlocked, v1alpha1.ConditionResizeFailed, v1alpha1.ConditionDryRun, v1alpha1.ConditionObservationsStale, v1alpha1.ConditionConflict} {
		if !conditionIs(p, conditionType, false) {
			t.Errorf("condition %s not false: %s", conditionType, conditionMessage(p, conditionType))
		}
	}
	eventually(t, "Events on the PVC and the Cluster", func() (bool, string) {
		pvcEvents, clusterEvents := w.events("PersistentVolumeClaim", "orders-3"), w.events("Cluster", "orders")
		return hasEvent(pvcEvents, "Growing", "10Gi -> 12Gi") && hasEvent(clusterEvents, "Growing", "orders-2-wal"),
			fmt.Sprintf("PVC events %v, cluster events %v", pvcEvents, clusterEvents)
	})
}

// A new replica's claim that has not bound yet cannot be changed (the API
// server refuses: "spec is immutable after creation except
// resources.requests ... for bound claims"). On the sandbox (#23) the
// controller patched one anyway and logged an error with a stack trace; it
// must wait for the claim to bind, say so, and raise it then.
func TestAClaimIsRaisedToItsRolesSizeOnlyOnceItIsBound(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 2, dataGi: 10, expandable: true})
	startController(t, w.namespace, clock, policy.Config{})
	w.createPendingPVC("orders-3", "orders-3", "PG_DATA", 5)
	w.createPolicy("orders", threeInstancePolicy)
	w.observeAll(40, 0)
	w.waitForStatus("orders", "orders-3 waiting to bind", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		row := rowOf(p, "orders-3")
		if row == nil {
			return false, "no row for orders-3"
		}
		return strings.Contains(row.Reason, "not bound") && conditionIs(p, v1alpha1.ConditionReady, true),
			fmt.Sprintf("%s %s; %s", row.State, row.Reason, conditionMessage(p, v1alpha1.ConditionReady))
	})
	if got := request(w.pvc("orders-3")); got.Cmp(gi(5)) != 0 {
		t.Fatalf("orders-3 unbound requests %s, want 5Gi as created", got.String())
	}

	w.bind("orders-3", 5)
	eventually(t, "orders-3 raised to 10Gi once bound", func() (bool, string) {
		got := request(w.pvc("orders-3"))
		return got.Cmp(gi(10)) == 0, got.String()
	})
}
