package policy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
)

// dataGrowthStarted brings a 3-instance cluster to a data growth 10Gi ->
// 12Gi in flight on every instance (WAL volumes stay idle).
func dataGrowthStarted(t *testing.T, w *world) *v1alpha1.StorageAutoscalePolicy {
	t.Helper()
	w.createPolicy("orders", threeInstancePolicy)
	w.observe("orders-1", map[string]float64{"orders-1": 85, "orders-1-wal": 10})
	w.observe("orders-2", map[string]float64{"orders-2": 40, "orders-2-wal": 10})
	w.observe("orders-3", map[string]float64{"orders-3": 40, "orders-3-wal": 10})
	return w.waitForStatus("orders", "the data growth in flight", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return len(p.Status.History) == 1 && len(p.Status.History[0].PVCs) == 3 && conditionIs(p, v1alpha1.ConditionResizeInProgress, true),
			fmt.Sprintf("history %v; %s", p.Status.History, conditionMessage(p, v1alpha1.ConditionResizeInProgress))
	})
}

// reconciledOn waits until the primary data row shows usedPercent, which
// proves a reconcile has read the observation that carried it.
func reconciledOn(w *world, usedPercent float64) *v1alpha1.StorageAutoscalePolicy {
	w.t.Helper()
	return w.waitForStatus("orders", fmt.Sprintf("a reconcile that saw orders-1 at %.0f%%", usedPercent), func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		row := rowOf(p, "orders-1")
		return row != nil && row.UsedPercent > usedPercent-0.5 && row.UsedPercent < usedPercent+0.5, fmt.Sprintf("row %+v", row)
	})
}

func assertDataRequests(t *testing.T, w *world, wantGi int64) {
	t.Helper()
	for _, instance := range w.instances {
		if got := request(w.pvc(instance)); got.Cmp(gi(wantGi)) != 0 {
			t.Errorf("PVC %s requests %s, want %dGi", instance, got.String(), wantGi)
		}
	}
}

func TestGrowthMovesThroughTheExpansionProtocolAndIsNeverDoubled(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	startController(t, w.namespace, clock, policy.Config{})
	started := dataGrowthStarted(t, w)

	// external-resizer picks the growth up; the sidecar still sees the old,
	// fuller filesystem. Another reconcile must not grow again.
	for _, instance := range w.instances {
		w.resizer(instance, resizerStep{allocated: corev1.PersistentVolumeClaimControllerResizeInProgress,
			conditions: []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimResizing, Status: corev1.ConditionTrue}}})
	}
	w.observe("orders-1", map[string]float64{"orders-1": 90, "orders-1-wal": 10})
	p := reconciledOn(w, 90)
	assertDataRequests(t, w, 12)
	if len(p.Status.History) != 1 || len(p.Status.Budget.Actions) != 1 || !p.Status.History[0].Time.Equal(&started.Status.History[0].Time) {
		t.Fatalf("a second reconcile in flight changed the growth record: history %+v, budget %+v", p.Status.History, p.Status.Budget)
	}
	if row := rowOf(p, "orders-1"); row.State != v1alpha1.VolumeGrowing || row.Gate != "ResizeInProgress" {
		t.Errorf("row in flight: %+v", row)
	}

	// The controller side is done: the PV grew, kubelet has yet to grow the
	// filesystem (NodeResizePending); still in flight.
	for _, instance := range w.instances {
		w.resizer(instance, resizerStep{allocated: corev1.PersistentVolumeClaimNodeResizePending, capacity: gi(12),
			conditions: []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimFileSystemResizePending, Status: corev1.ConditionTrue}}})
	}
	p = w.waitForStatus("orders", "NodeResizePending reported", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		message := conditionMessage(p, v1alpha1.ConditionResizeInProgress)
		return strings.Contains(message, "NodeResizePending"), message
	})
	if p.Status.History[0].Outcome != v1alpha1.OutcomeInProgress {
		t.Fatalf("growth finished before kubelet grew the filesystem: %+v", p.Status.History[0])
	}

	// kubelet grows the filesystems: the protocol's statuses clear.
	for _, instance := range w.instances {
		w.resizer(instance, resizerStep{capacity: gi(12)})
	}
	w.observeAll(71, 10)
	p = w.waitForStatus("orders", "the growth succeeded", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return p.Status.History[0].Outcome == v1alpha1.OutcomeSucceeded && p.Status.State == "Idle",
			fmt.Sprintf("state %s, history %+v", p.Status.State, p.Status.History)
	})
	if !conditionIs(p, v1alpha1.ConditionResizeInProgress, false) {
		t.Errorf("ResizeInProgress after the growth: %s", conditionMessage(p, v1alpha1.ConditionResizeInProgress))
	}
	assertDataRequests(t, w, 12)
	eventually(t, "a GrowthSucceeded Event on the Cluster", func() (bool, string) {
		events := w.events("Cluster", "orders")
		return hasEvent(events, "GrowthSucceeded", "to 12Gi"), fmt.Sprint(events)
	})
}

func TestARestartMidGrowthNeitherLosesNorDoublesIt(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	first := startController(t, w.namespace, clock, policy.Config{})
	started := dataGrowthStarted(t, w)
	first.Stop()

	// While no controller runs, the resizer starts, and the sidecar reports
	// the volume fuller still.
	for _, instance := range w.instances {
		w.resizer(instance, resizerStep{allocated: corev1.PersistentVolumeClaimControllerResizeInProgress})
	}
	w.observe("orders-1", map[string]float64{"orders-1": 93, "orders-1-wal": 10})
	startController(t, w.namespace, clock, policy.Config{})
	p := reconciledOn(w, 93)
	assertDataRequests(t, w, 12)
	if len(p.Status.History) != 1 || p.Status.History[0].Outcome != v1alpha1.OutcomeInProgress ||
		!p.Status.History[0].Time.Equal(&started.Status.History[0].Time) || len(p.Status.Budget.Actions) != 1 {
		t.Fatalf("after the restart: history %+v, budget %+v; want the one growth, still in progress", p.Status.History, p.Status.Budget)
	}

	for _, instance := range w.instances {
		w.finishResize(instance)
	}
	w.observeAll(71, 10)
	p = w.waitForStatus("orders", "the growth succeeded after the restart", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return p.Status.History[0].Outcome == v1alpha1.OutcomeSucceeded, fmt.Sprintf("history %+v", p.Status.History)
	})
	if len(p.Status.History) != 1 || len(p.Status.Budget.Actions) != 1 {
		t.Fatalf("history %+v, budget %+v; want one growth", p.Status.History, p.Status.Budget)
	}
}

func TestAnInfeasibleGrowthIsResizeFailedWithTheDriversWords(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	startController(t, w.namespace, clock, policy.Config{})
	dataGrowthStarted(t, w)

	const driverSays = "disk orders-1 cannot exceed 11Gi on this SKU"
	w.resizer("orders-1", resizerStep{allocated: corev1.PersistentVolumeClaimControllerResizeInfeasible,
		conditions: []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimControllerResizeError, Status: corev1.ConditionTrue, Message: driverSays}}})
	p := w.waitForStatus("orders", "ResizeFailed", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return conditionIs(p, v1alpha1.ConditionResizeFailed, true), conditionMessage(p, v1alpha1.ConditionResizeFailed)
	})
	if message := conditionMessage(p, v1alpha1.ConditionResizeFailed); !strings.Contains(message, driverSays) {
		t.Errorf("ResizeFailed does not carry the driver's words: %s", message)
	}
	if record := p.Status.History[0]; record.Outcome != v1alpha1.OutcomeFailed || !strings.Contains(record.Message, driverSays) {
		t.Errorf("history %+v; want Failed with the driver's words", record)
	}
	if p.Status.State != "Blocked" {
		t.Errorf("state %s, want Blocked", p.Status.State)
	}
	for _, row := range p.Status.Volumes {
		if row.PVC == "orders-1" && (row.Gate != "ResizeFailed" || !strings.Contains(row.Reason, driverSays) ||
			!strings.Contains(row.Reason, "not retried by the add-on while orders-1 requests 12Gi: it grows again once it has reached that size, or after its request is set back to its capacity 10Gi")) {
			t.Errorf("row %+v; want ResizeFailed with the driver's words and what happens next", row)
		}
	}
	eventually(t, "a ResizeFailed Event on the PVC", func() (bool, string) {
		events := w.events("PersistentVolumeClaim", "orders-1")
		return hasEvent(events, "ResizeFailed", driverSays), fmt.Sprint(events)
	})
	assertDataRequests(t, w, 12)
}

func TestAGrowthStuckPastTheResizeTimeoutIsResizeFailed(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	startController(t, w.namespace, clock, policy.Config{ResizeTimeout: 10 * time.Minute})
	dataGrowthStarted(t, w)
	for _, instance := range w.instances {
		w.resizer(instance, resizerStep{allocated: corev1.PersistentVolumeClaimNodeResizePending, capacity: gi(12)})
	}

	// Nine minutes: not stuck yet.
	clock.Advance(9 * time.Minute)
	w.observe("orders-1", map[string]float64{"orders-1": 86, "orders-1-wal": 10})
	p := w.waitForStatus("orders", "a reconcile nine minutes on", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady)
		return c != nil && strings.Contains(conditionMessage(p, v1alpha1.ConditionObservationsStale), "orders-2 (last observed 9m0s ago)"), conditionMessage(p, v1alpha1.ConditionObservationsStale)
	})
	if p.Status.History[0].Outcome != v1alpha1.OutcomeInProgress {
		t.Fatalf("failed before the timeout: %+v", p.Status.History[0])
	}

	clock.Advance(2 * time.Minute)
	w.observe("orders-1", map[string]float64{"orders-1": 87, "orders-1-wal": 10})
	p = w.waitForStatus("orders", "ResizeFailed for a stuck growth", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return conditionIs(p, v1alpha1.ConditionResizeFailed, true), conditionMessage(p, v1alpha1.ConditionResizeFailed)
	})
	message := conditionMessage(p, v1alpha1.ConditionResizeFailed)
	if !strings.Contains(message, "stuck in NodeResizePending for 11m0s (resize timeout 10m0s)") || !strings.HasPrefix(message, "ResizeStuck") {
		t.Errorf("ResizeFailed message: %s", message)
	}
	if p.Status.History[0].Outcome != v1alpha1.OutcomeFailed {
		t.Errorf("history %+v; want Failed", p.Status.History[0])
	}
}
