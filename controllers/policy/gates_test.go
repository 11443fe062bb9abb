package policy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
)

func TestANonExpandableStorageClassIsAConditionAndNoPatch(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: false})
	startController(t, w.namespace, clock, policy.Config{})
	w.createPolicy("orders", threeInstancePolicy)
	w.observeAll(90, 10)
	p := w.waitForStatus("orders", "StorageClassNotExpandable", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return conditionIs(p, v1alpha1.ConditionStorageClassNotExpandable, true) && len(p.Status.Volumes) == 6,
			conditionMessage(p, v1alpha1.ConditionStorageClassNotExpandable)
	})
	if message := conditionMessage(p, v1alpha1.ConditionStorageClassNotExpandable); !strings.Contains(message, "StorageClass "+w.class) || !strings.Contains(message, "orders-1-wal") {
		t.Errorf("message does not name the class and its PVCs: %s", message)
	}
	if row := rowOf(p, "orders-1"); row.Gate != "StorageClassNotExpandable" || row.State != v1alpha1.VolumeBlocked {
		t.Errorf("row %+v", row)
	}
	assertDataRequests(t, w, 10)
	if len(p.Status.History) != 0 || len(p.Status.Budget.Actions) != 0 {
		t.Errorf("history %v, budget %v; want nothing", p.Status.History, p.Status.Budget)
	}
	eventually(t, "a StorageClassNotExpandable Event on the Cluster", func() (bool, string) {
		events := w.events("Cluster", "orders")
		return hasEvent(events, "StorageClassNotExpandable", w.class), fmt.Sprint(events)
	})
}

func TestAResourceQuotaTooSmallIsAConditionWithTheQuotaMessageAndNoRetryStorm(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	ctx := context.Background()
	// 3 x 10Gi + 3 x 2Gi = 36Gi used of 37Gi: not even the first PVC's
	// growth (+2Gi) fits. (The quota judges each PVC patch alone: with
	// 40Gi, two of the three would grow.)
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "storage", Namespace: w.namespace},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsStorage: gi(37)}},
	}
	must(t, env.Client.Create(ctx, quota))
	// No quota controller runs here: write what it would have computed.
	quota.Status = corev1.ResourceQuotaStatus{
		Hard: corev1.ResourceList{corev1.ResourceRequestsStorage: gi(37)},
		Used: corev1.ResourceList{corev1.ResourceRequestsStorage: gi(36)},
	}
	must(t, env.Client.Status().Update(ctx, quota))

	startController(t, w.namespace, clock, policy.Config{QuotaRetryInterval: 5 * time.Minute})
	w.createPolicy("orders", threeInstancePolicy)
	w.observe("orders-1", map[string]float64{"orders-1": 85, "orders-1-wal": 10})
	w.observe("orders-2", map[string]float64{"orders-2": 40, "orders-2-wal": 10})
	w.observe("orders-3", map[string]float64{"orders-3": 40, "orders-3-wal": 10})
	p := w.waitForStatus("orders", "Blocked by the quota", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return conditionIs(p, v1alpha1.ConditionBlocked, true), conditionMessage(p, v1alpha1.ConditionBlocked)
	})
	message := conditionMessage(p, v1alpha1.ConditionBlocked)
	if !strings.HasPrefix(message, "ResourceQuotaExceeded: ") || !strings.Contains(message, "exceeded quota: storage") {
		t.Fatalf("Blocked does not carry the quota's message: %s", message)
	}
	refusedAt := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionBlocked).LastTransitionTime
	assertDataRequests(t, w, 10)
	if len(p.Status.History) != 0 || len(p.Status.Budget.Actions) != 0 || p.Status.State != "Blocked" {
		t.Fatalf("a refused growth was recorded: state %s, history %v, budget %v", p.Status.State, p.Status.History, p.Status.Budget)
	}
	eventually(t, "a ResourceQuotaExceeded Event on the PVC", func() (bool, string) {
		events := w.events("PersistentVolumeClaim", "orders-1")
		return hasEvent(events, "ResourceQuotaExceeded", "exceeded quota"), fmt.Sprint(events)
	})

	// A minute on, a new observation: the retry interval has not passed,
	// so no patch is tried (a retried refusal would restart the condition).
	clock.Advance(time.Minute)
	w.observe("orders-1", map[string]float64{"orders-1": 88, "orders-1-wal": 10})
	p = reconciledOn(w, 88)
	if c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionBlocked); c.Reason != "ResourceQuotaExceeded" || !c.LastTransitionTime.Equal(&refusedAt) {
		t.Fatalf("the patch was retried within the retry interval: %+v", c)
	}

	// Past the interval, with a larger quota, the growth goes through.
	quota.Spec.Hard[corev1.ResourceRequestsStorage] = gi(60)
	must(t, env.Client.Update(ctx, quota))
	quota.Status.Hard[corev1.ResourceRequestsStorage] = gi(60)
	must(t, env.Client.Status().Update(ctx, quota))
	clock.Advance(5 * time.Minute)
	w.observe("orders-1", map[string]float64{"orders-1": 89, "orders-1-wal": 10})
	eventually(t, "the growth after the quota was raised", func() (bool, string) {
		got := request(w.pvc("orders-3"))
		return got.Cmp(gi(12)) == 0, got.String()
	})
}

func TestDryRunNeverPatches(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	startController(t, w.namespace, clock, policy.Config{})
	w.createPolicy("orders", threeInstancePolicy+"mode: DryRun\n")
	w.observeAll(97, 97)
	p := w.waitForStatus("orders", "a dry-run plan", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		message := conditionMessage(p, v1alpha1.ConditionDryRun)
		return conditionIs(p, v1alpha1.ConditionDryRun, true) && strings.Contains(message, "Enforce would grow"), message
	})
	assertDataRequests(t, w, 10)
	if got := request(w.pvc("orders-1-wal")); got.Cmp(gi(2)) != 0 {
		t.Errorf("WAL PVC patched in dry-run: %s", got.String())
	}
	if p.Status.State != "DryRun" || conditionIs(p, v1alpha1.ConditionActive, true) || len(p.Status.History) != 0 || len(p.Status.Budget.Actions) != 0 {
		t.Errorf("dry-run status: state %s, active %s, history %v, budget %v", p.Status.State, conditionMessage(p, v1alpha1.ConditionActive), p.Status.History, p.Status.Budget)
	}
	if row := rowOf(p, "orders-1"); row.Gate != "DryRun" || !strings.Contains(row.Reason, "nothing is patched") {
		t.Errorf("row %+v", row)
	}
}

func TestAStaleObservationNeverTriggersGrowth(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	startController(t, w.namespace, clock, policy.Config{})
	w.observeAll(99, 99)
	// The observations were made 4 minutes ago; observationMaxAge is 3m.
	clock.Advance(4 * time.Minute)
	w.createPolicy("orders", threeInstancePolicy)
	p := w.waitForStatus("orders", "ObservationsStale", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return conditionIs(p, v1alpha1.ConditionObservationsStale, true), conditionMessage(p, v1alpha1.ConditionObservationsStale)
	})
	if message := conditionMessage(p, v1alpha1.ConditionObservationsStale); !strings.Contains(message, "orders-1 (last observed 4m0s ago), orders-2") {
		t.Errorf("ObservationsStale does not name the instances: %s", message)
	}
	if row := rowOf(p, "orders-1-wal"); row.State != v1alpha1.VolumeStale {
		t.Errorf("row %+v, want Stale", row)
	}
	assertDataRequests(t, w, 10)
	if len(p.Status.History) != 0 {
		t.Errorf("history %v", p.Status.History)
	}
}

func TestALimitReachedIsReported(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	startController(t, w.namespace, clock, policy.Config{})
	w.createPolicy("orders", "clusterRef: {name: orders}\nvolumes:\n  data: {limit: 10Gi}\n  wal: {limit: 10Gi}\n")
	w.observeAll(90, 10)
	// LimitReached is true from the first observation the controller
	// sees; orders-2's row is at the limit once its own arrives too.
	w.waitForStatus("orders", "LimitReached, every data row at its limit", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		row := rowOf(p, "orders-2")
		return conditionIs(p, v1alpha1.ConditionLimitReached, true) && p.Status.State == "AtLimit" &&
				row != nil && row.State == v1alpha1.VolumeAtLimit,
			fmt.Sprintf("state %s, %s; row %+v", p.Status.State, conditionMessage(p, v1alpha1.ConditionLimitReached), row)
	})
	assertDataRequests(t, w, 10)
}

func TestACriticalVolumeGrowsOutsideTheWindowAndAPlannedOneWaitsForIt(t *testing.T) {
	clock := newTestClock()
	// Noon UTC; the window opens at 02:00 UTC for an hour.
	noon := time.Now().UTC().Truncate(24 * time.Hour).Add(12 * time.Hour)
	clock.Set(noon)
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	startController(t, w.namespace, clock, policy.Config{})
	w.createPolicy("orders", threeInstancePolicy+"maintenanceWindows: [{schedule: \"0 2 * * *\", duration: 1h}]\n")
	// Data is critical (97 % >= 95 %): 13Gi leaves 25 % free. WAL is only
	// over the trigger (85 %).
	w.observe("orders-1", map[string]float64{"orders-1": 97, "orders-1-wal": 85})
	w.observe("orders-2", map[string]float64{"orders-2": 40, "orders-2-wal": 10})
	w.observe("orders-3", map[string]float64{"orders-3": 40, "orders-3-wal": 10})
	p := w.waitForStatus("orders", "the emergency growth and the queued one", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return len(p.Status.History) == 1 && len(p.Status.Pending) == 1, fmt.Sprintf("history %v, pending %v", p.Status.History, p.Status.Pending)
	})
	if record := p.Status.History[0]; record.Kind != v1alpha1.GrowthEmergency || record.Role != v1alpha1.RoleData {
		t.Fatalf("history %+v; want an emergency data growth", record)
	}
	opens := noon.Add(14 * time.Hour)
	if pending := p.Status.Pending[0]; pending.Role != v1alpha1.RoleWAL || pending.NotBefore == nil || !pending.NotBefore.Time.Equal(opens) {
		t.Fatalf("pending %+v; want WAL queued until %s", pending, opens)
	}
	if row := rowOf(p, "orders-1-wal"); row.State != v1alpha1.VolumeQueued || row.Gate != "MaintenanceWindow" {
		t.Errorf("WAL row %+v", row)
	}
	if got := request(w.pvc("orders-1-wal")); got.Cmp(gi(2)) != 0 {
		t.Fatalf("WAL grown outside the window: %s", got.String())
	}
	assertDataRequests(t, w, 13)

	// The clock reaches the window; the sidecar's next heartbeat arrives.
	clock.Set(opens.Add(time.Minute))
	w.observe("orders-1", map[string]float64{"orders-1": 97, "orders-1-wal": 85})
	w.observe("orders-2", map[string]float64{"orders-2": 40, "orders-2-wal": 10})
	w.observe("orders-3", map[string]float64{"orders-3": 40, "orders-3-wal": 10})
	eventually(t, "every WAL PVC grown in the window", func() (bool, string) {
		state := ""
		ok := true
		for _, instance := range w.instances {
			got := request(w.pvc(instance + "-wal"))
			state += instance + "-wal=" + got.String() + " "
			ok = ok && got.Cmp(gi(3)) == 0
		}
		return ok, state
	})
	p = w.waitForStatus("orders", "the queue emptied", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return len(p.Status.Pending) == 0 && len(p.Status.History) == 2, fmt.Sprintf("pending %v, history %v", p.Status.Pending, p.Status.History)
	})
	if record := p.Status.History[1]; record.Kind != v1alpha1.GrowthPlanned || record.Role != v1alpha1.RoleWAL {
		t.Errorf("history %+v; want a planned WAL growth", record)
	}
}

// A planned growth's quota refusal holds neither an emergency growth nor,
// once the quota is raised, the planned growth itself: on the real API
// server, with the quota's status written as its controller would.
func TestAQuotaRefusalHoldsOnlyWhatTheSameQuotaWouldRefuseAgain(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	ctx := context.Background()
	// 36Gi used of 37Gi: a data growth (+2Gi a PVC) is refused, one WAL
	// growth (+1Gi) fits.
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "storage", Namespace: w.namespace},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsStorage: gi(37)}},
	}
	must(t, env.Client.Create(ctx, quota))
	quota.Status = corev1.ResourceQuotaStatus{
		Hard: corev1.ResourceList{corev1.ResourceRequestsStorage: gi(37)},
		Used: corev1.ResourceList{corev1.ResourceRequestsStorage: gi(36)},
	}
	must(t, env.Client.Status().Update(ctx, quota))

	startController(t, w.namespace, clock, policy.Config{QuotaRetryInterval: 5 * time.Minute})
	w.createPolicy("orders", threeInstancePolicy)
	w.observe("orders-1", map[string]float64{"orders-1": 85, "orders-1-wal": 10})
	w.observe("orders-2", map[string]float64{"orders-2": 40, "orders-2-wal": 10})
	w.observe("orders-3", map[string]float64{"orders-3": 40, "orders-3-wal": 10})
	p := w.waitForStatus("orders", "the planned growth refused", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return conditionIs(p, v1alpha1.ConditionBlocked, true), conditionMessage(p, v1alpha1.ConditionBlocked)
	})
	if refusals := p.Status.QuotaRefusals; len(refusals) != 1 || refusals[0].Quota != "storage" || refusals[0].Kind != v1alpha1.GrowthPlanned ||
		refusals[0].StorageClass != "" || refusals[0].QuotaVersion == "" {
		t.Errorf("refusals %+v; want the planned growth refused by quota storage, which limits the namespace's storage", refusals)
	}
	if message := conditionMessage(p, v1alpha1.ConditionBlocked); !strings.Contains(message, "ResourceQuota storage") || !strings.Contains(message, "at once when the quota changes") {
		t.Errorf("Blocked does not say which quota and what ends the wait: %s", message)
	}

	// A minute on, inside the retry interval, the WAL turns critical: its
	// emergency growth is tried, not held behind the planned refusal.
	clock.Advance(time.Minute)
	w.observe("orders-1", map[string]float64{"orders-1": 85, "orders-1-wal": 97})
	eventually(t, "the emergency WAL growth tried during the planned refusal's backoff", func() (bool, string) {
		state := ""
		grown := false
		for _, instance := range w.instances {
			got := request(w.pvc(instance + "-wal"))
			state += instance + "-wal=" + got.String() + " "
			grown = grown || got.Cmp(gi(3)) == 0
		}
		return grown, state
	})
	assertDataRequests(t, w, 10)

	// The quota is raised, still inside the retry interval: every held
	// growth is retried at once.
	quota = &corev1.ResourceQuota{}
	must(t, env.Client.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: "storage"}, quota))
	quota.Spec.Hard[corev1.ResourceRequestsStorage] = gi(60)
	must(t, env.Client.Update(ctx, quota))
	quota.Status.Hard[corev1.ResourceRequestsStorage] = gi(60)
	must(t, env.Client.Status().Update(ctx, quota))
	eventually(t, "every growth once the quota was raised", func() (bool, string) {
		state := ""
		ok := true
		for _, instance := range w.instances {
			data, wal := request(w.pvc(instance)), request(w.pvc(instance+"-wal"))
			state += fmt.Sprintf("%s=%s %s-wal=%s ", instance, data.String(), instance, wal.String())
			ok = ok && data.Cmp(gi(12)) == 0 && wal.Cmp(gi(3)) == 0
		}
		return ok, state
	})
	w.waitForStatus("orders", "no growth held by a quota", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return conditionIs(p, v1alpha1.ConditionBlocked, false) && len(p.Status.QuotaRefusals) == 0,
			fmt.Sprintf("%s; refusals %+v", conditionMessage(p, v1alpha1.ConditionBlocked), p.Status.QuotaRefusals)
	})
}
