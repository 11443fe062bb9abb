package policy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
)

// forge replaces the observation named name with one an administrator
// writes (admission's ownership policy does not apply to them): spec as
// given, the data volume of pvc at usedPercent, observed at observedAt.
func (w *world) forge(name string, spec v1alpha1.StorageObservationSpec, pvc string, usedPercent float64, observedAt time.Time) {
	w.t.Helper()
	ctx := context.Background()
	c := env.Client
	err := c.Delete(ctx, &v1alpha1.StorageObservation{ObjectMeta: metav1.ObjectMeta{Namespace: w.namespace, Name: name}})
	must(w.t, client.IgnoreNotFound(err))
	eventually(w.t, "the observation "+name+" to be gone", func() (bool, string) {
		err := c.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: name}, &v1alpha1.StorageObservation{})
		return client.IgnoreNotFound(err) == nil && err != nil, fmt.Sprint(err)
	})
	observation := &v1alpha1.StorageObservation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.namespace, Labels: map[string]string{"cnpg.io/cluster": "orders"}},
		Spec:       spec,
	}
	must(w.t, c.Create(ctx, observation))
	capacity := w.pvc(pvc).Status.Capacity[corev1.ResourceStorage]
	filesystemBytes := int64(float64(capacity.Value()) * filesystemRatio)
	usedBytes := int64(float64(filesystemBytes) * usedPercent / 100)
	at := metav1.NewMicroTime(observedAt)
	observation.Status = v1alpha1.StorageObservationStatus{
		ObservedAt: &at,
		Role:       v1alpha1.InstancePrimary,
		Postgres:   v1alpha1.PostgresObservation{Reachable: true, Archiving: &v1alpha1.ArchivingObservation{Enabled: true, Healthy: true}},
		Volumes: []v1alpha1.ObservedVolume{{Name: "pgdata", Role: v1alpha1.RoleData, PVC: pvc, MountPath: "/var/lib/postgresql/data",
			CapacityBytes: filesystemBytes, UsedBytes: usedBytes, AvailableBytes: filesystemBytes - usedBytes}},
	}
	must(w.t, c.Status().Update(ctx, observation))
}

// rejectedCount is pgstorage_observations_rejected_total of the world's
// namespace for reason.
func (w *world) rejectedCount(reason string) float64 {
	w.t.Helper()
	families, err := registry.Gather()
	must(w.t, err)
	total := 0.0
	for _, family := range families {
		if family.GetName() != "pgstorage_observations_rejected_total" {
			continue
		}
		for _, metric := range family.GetMetric() {
			labels := map[string]string{}
			for _, label := range metric.GetLabel() {
				labels[label.GetName()] = label.GetValue()
			}
			if labels["namespace"] == w.namespace && labels["cluster"] == "orders" && labels["reason"] == reason {
				total += metric.GetCounter().GetValue()
			}
		}
	}
	return total
}

// Issue 19: observations forged by someone admission does not stop (here an
// administrator) are ignored as if absent: the replica's observation claiming
// the primary's data volume 99 % full, one with another pod's UID, one
// reporting a PVC its pod does not mount, one from the future. None grows a
// PVC or hides the primary's real observation; the policy names each, with
// an Event and a metric; the real observation still drives growth.
func TestForgedObservationsAreIgnoredAndTheRealOnesStillCount(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	startController(t, w.namespace, clock, policy.Config{})
	w.createPolicy("orders", threeInstancePolicy)
	w.observeAll(40, 30)
	w.waitForStatus("orders", "an idle first status", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return p.Status.State == "Idle" && len(p.Status.Volumes) == 6 && conditionIs(p, v1alpha1.ConditionObservationsStale, false),
			p.Status.State + " " + conditionMessage(p, v1alpha1.ConditionObservationsStale)
	})

	// No growth: every PVC keeps its request, and orders-1's row still
	// shows its real observation (40 %), not Stale.
	unchanged := func(p *v1alpha1.StorageAutoscalePolicy) {
		t.Helper()
		for _, instance := range w.instances {
			for name, want := range map[string]int64{instance: 10, instance + "-wal": 2} {
				if got := request(w.pvc(name)); got.Cmp(gi(want)) != 0 {
					t.Errorf("PVC %s grown to %s on a forged observation", name, got.String())
				}
			}
		}
		if row := rowOf(p, "orders-1"); row == nil || row.State == v1alpha1.VolumeStale || row.UsedPercent == 0 || row.UsedPercent > 50 {
			t.Errorf("row of orders-1 %+v; want its real observation (40 %% used), not Stale", row)
		}
		if len(p.Status.History) != 0 {
			t.Errorf("growths recorded on forged observations: %+v", p.Status.History)
		}
	}
	rejectedSaying := func(what string, parts ...string) *v1alpha1.StorageAutoscalePolicy {
		t.Helper()
		return w.waitForStatus("orders", what, func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
			message := conditionMessage(p, v1alpha1.ConditionObservationsRejected)
			ok := conditionIs(p, v1alpha1.ConditionObservationsRejected, true)
			for _, part := range parts {
				ok = ok && strings.Contains(message, part)
			}
			return ok, message
		})
	}

	// The sandbox's attack: the replica's observation says it is the
	// primary, whose data volume is 99 % full; another names a pod UID
	// that is not the live pod's.
	w.forge("orders-2", v1alpha1.StorageObservationSpec{Cluster: "orders", Instance: "orders-1", PodUID: w.podUID("orders-2")}, "orders-1", 99, clock.Now())
	w.forge("orders-3", v1alpha1.StorageObservationSpec{Cluster: "orders", Instance: "orders-3", PodUID: "uid-of-no-live-pod"}, "orders-3", 99, clock.Now())
	p := rejectedSaying("both forgeries rejected",
		"ForeignInstance: StorageObservation orders-2 claims spec.instance orders-1",
		"PodUIDMismatch: StorageObservation orders-3 was written for pod UID uid-of-no-live-pod")
	unchanged(p)
	if stale := conditionMessage(p, v1alpha1.ConditionObservationsStale); !conditionIs(p, v1alpha1.ConditionObservationsStale, true) ||
		!strings.Contains(stale, "orders-2 (its observation is ignored: ForeignInstance") || strings.Contains(stale, "orders-1") {
		t.Errorf("ObservationsStale %s; want orders-2 and orders-3 stale because their observations are ignored, orders-1 fresh", stale)
	}

	// A PVC the pod does not mount, and an observedAt from the future.
	w.forge("orders-3", v1alpha1.StorageObservationSpec{Cluster: "orders", Instance: "orders-3", PodUID: w.podUID("orders-3")}, "orders-1", 99, clock.Now())
	w.forge("orders-2", v1alpha1.StorageObservationSpec{Cluster: "orders", Instance: "orders-2", PodUID: w.podUID("orders-2")}, "orders-2", 99, clock.Now().Add(10*time.Minute))
	p = rejectedSaying("the next two forgeries rejected",
		"PVCNotMounted: StorageObservation orders-3 reports volume pgdata on PVC orders-1, which pod orders-3 does not mount",
		"FromTheFuture: StorageObservation orders-2 has observedAt")
	unchanged(p)

	eventually(t, "an Event on the policy and a count per rejection", func() (bool, string) {
		events := w.events("StorageAutoscalePolicy", "orders")
		ok := true
		for _, reason := range []string{"ForeignInstance", "PodUIDMismatch", "PVCNotMounted", "FromTheFuture"} {
			ok = ok && hasEvent(events, "ObservationRejected", reason+": StorageObservation") && w.rejectedCount(reason) == 1
		}
		return ok, fmt.Sprintf("events %v", events)
	})

	// The sidecars write their real observations again: the condition
	// clears, and the primary's real 85 % grows its data volume.
	w.forge("orders-2", v1alpha1.StorageObservationSpec{Cluster: "orders", Instance: "orders-2", PodUID: w.podUID("orders-2")}, "orders-2", 40, clock.Now())
	w.forge("orders-3", v1alpha1.StorageObservationSpec{Cluster: "orders", Instance: "orders-3", PodUID: w.podUID("orders-3")}, "orders-3", 40, clock.Now())
	w.waitForStatus("orders", "no observation rejected", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return conditionIs(p, v1alpha1.ConditionObservationsRejected, false), conditionMessage(p, v1alpha1.ConditionObservationsRejected)
	})
	w.observe("orders-1", map[string]float64{"orders-1": 85, "orders-1-wal": 30})
	eventually(t, "the primary's data volume grown on its real observation", func() (bool, string) {
		got := request(w.pvc("orders-1"))
		return got.Cmp(gi(12)) == 0, got.String()
	})
}
