package policy_test

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
)

// A resizer that is throttled by its cloud API sets ControllerResizeError
// and tries again: the growth is still in progress, and it ends Succeeded.
func TestARetryableResizeErrorIsInProgressAndTheGrowthEndsSucceeded(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	startController(t, w.namespace, clock, policy.Config{})
	dataGrowthStarted(t, w)

	const driverSays = "rpc error: code = ResourceExhausted desc = Rate exceeded, retrying"
	for _, instance := range w.instances {
		w.resizer(instance, resizerStep{allocated: corev1.PersistentVolumeClaimControllerResizeInProgress,
			conditions: []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimControllerResizeError, Status: corev1.ConditionTrue, Message: driverSays}}})
	}
	w.observe("orders-1", map[string]float64{"orders-1": 86, "orders-1-wal": 10})
	p := reconciledOn(w, 86)
	if record := p.Status.History[0]; record.Outcome != v1alpha1.OutcomeInProgress {
		t.Fatalf("a retryable resize error ended the growth: %+v", record)
	}
	if conditionIs(p, v1alpha1.ConditionResizeFailed, true) {
		t.Errorf("ResizeFailed for a retryable error: %s", conditionMessage(p, v1alpha1.ConditionResizeFailed))
	}
	if row := rowOf(p, "orders-1"); row.State != v1alpha1.VolumeGrowing || !strings.Contains(row.Reason, driverSays) {
		t.Errorf("row %+v; want Growing with the driver's words", row)
	}

	for _, instance := range w.instances {
		w.finishResize(instance)
	}
	w.observeAll(71, 10)
	p = w.waitForStatus("orders", "the growth succeeded", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return p.Status.History[0].Outcome == v1alpha1.OutcomeSucceeded, fmt.Sprintf("history %+v", p.Status.History)
	})
	if len(p.Status.History) != 1 || len(p.Status.Budget.Actions) != 1 {
		t.Errorf("history %+v, budget %+v; want the one growth", p.Status.History, p.Status.Budget)
	}
	assertDataRequests(t, w, 12)
}

// With onInfeasible: Retry a growth the driver refuses is lowered once to
// half its step; if that is refused too, the PVC is held with the driver's
// words and its request is left alone.
func TestAnInfeasibleGrowthWithOnInfeasibleRetryIsLoweredToHalfTheStepOnceThenHeld(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	startController(t, w.namespace, clock, policy.Config{})
	w.createPolicy("orders", `
clusterRef: {name: orders}
volumes:
  data: {limit: 100Gi, onInfeasible: Retry}
  wal: {limit: 10Gi}
`)
	w.observe("orders-1", map[string]float64{"orders-1": 85, "orders-1-wal": 10})
	w.observe("orders-2", map[string]float64{"orders-2": 40, "orders-2-wal": 10})
	w.observe("orders-3", map[string]float64{"orders-3": 40, "orders-3-wal": 10})
	w.waitForStatus("orders", "the data growth in flight", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return len(p.Status.History) == 1 && len(p.Status.History[0].PVCs) == 3, fmt.Sprintf("history %v", p.Status.History)
	})
	w.finishResize("orders-2")
	w.finishResize("orders-3")

	const driverSays = "disk orders-1 cannot exceed 11Gi on this SKU"
	refuse := resizerStep{allocated: corev1.PersistentVolumeClaimControllerResizeInfeasible,
		conditions: []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimControllerResizeError, Status: corev1.ConditionTrue, Message: driverSays}}}
	w.resizer("orders-1", refuse)
	eventually(t, "orders-1 lowered to half the step", func() (bool, string) {
		got := request(w.pvc("orders-1"))
		return got.Cmp(gi(11)) == 0, got.String()
	})
	p := w.waitForStatus("orders", "the retry recorded", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return len(p.Status.History) == 2, fmt.Sprintf("history %+v", p.Status.History)
	})
	if refused := p.Status.History[0]; refused.Outcome != v1alpha1.OutcomeFailed || !strings.Contains(refused.Message, driverSays) {
		t.Errorf("refused growth %+v; want Failed with the driver's words", refused)
	}
	if retry := p.Status.History[1]; !retry.Retry || retry.Outcome != v1alpha1.OutcomeInProgress || strings.Join(retry.PVCs, ",") != "orders-1" ||
		retry.From.Cmp(gi(12)) != 0 || retry.To.Cmp(gi(11)) != 0 || !strings.Contains(retry.Trigger, driverSays) {
		t.Errorf("retry entry %+v; want orders-1 12Gi -> 11Gi in progress, saying why", retry)
	}
	if len(p.Status.Budget.Actions) != 1 {
		t.Errorf("budget %+v; the retry replaces the refused growth and is not charged", p.Status.Budget)
	}
	if conditionIs(p, v1alpha1.ConditionResizeFailed, true) {
		t.Errorf("ResizeFailed while the retry is in flight: %s", conditionMessage(p, v1alpha1.ConditionResizeFailed))
	}
	if row := rowOf(p, "orders-1"); row.State != v1alpha1.VolumeGrowing {
		t.Errorf("row %+v; want Growing", row)
	}
	eventually(t, "a GrowthRetried Event on the PVC", func() (bool, string) {
		events := w.events("PersistentVolumeClaim", "orders-1")
		return hasEvent(events, "GrowthRetried", "request lowered to 11Gi"), fmt.Sprint(events)
	})

	// The smaller size is refused too: held with the driver's words, the
	// request left at 11Gi, no second retry.
	w.resizer("orders-1", refuse)
	w.waitForStatus("orders", "ResizeFailed after the retry", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return conditionIs(p, v1alpha1.ConditionResizeFailed, true), conditionMessage(p, v1alpha1.ConditionResizeFailed)
	})
	w.observe("orders-1", map[string]float64{"orders-1": 87, "orders-1-wal": 10})
	p = reconciledOn(w, 87)
	if len(p.Status.History) != 2 || p.Status.History[1].Outcome != v1alpha1.OutcomeFailed || !strings.Contains(p.Status.History[1].Message, driverSays) {
		t.Errorf("history %+v; want the retry Failed with the driver's words and nothing after it", p.Status.History)
	}
	if row := rowOf(p, "orders-1"); row.Gate != "ResizeFailed" || !strings.Contains(row.Reason, driverSays) {
		t.Errorf("row %+v; want ResizeFailed with the driver's words", row)
	}
	if got := request(w.pvc("orders-1")); got.Cmp(gi(11)) != 0 {
		t.Errorf("orders-1 requests %s after the refused retry, want 11Gi", got.String())
	}
	if len(p.Status.Budget.Actions) != 1 {
		t.Errorf("budget %+v; want the one growth", p.Status.Budget)
	}
}
