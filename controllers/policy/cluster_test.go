package policy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
)

func TestASecondPolicyOfTheSameClusterIsAConflictAndDoesNothing(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	startController(t, w.namespace, clock, policy.Config{})
	w.createPolicy("orders", threeInstancePolicy)
	w.waitForStatus("orders", "the first policy reconciled", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return conditionIs(p, v1alpha1.ConditionReady, true), conditionMessage(p, v1alpha1.ConditionReady)
	})
	w.createPolicy("orders-too", threeInstancePolicy+"mode: DryRun\n")
	p := w.waitForStatus("orders-too", "Conflict", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return conditionIs(p, v1alpha1.ConditionConflict, true), conditionMessage(p, v1alpha1.ConditionConflict)
	})
	if p.Status.State != "Conflict" || !strings.Contains(conditionMessage(p, v1alpha1.ConditionConflict), "policy orders is older") || len(p.Status.Volumes) != 0 {
		t.Errorf("state %s, %s, %d rows", p.Status.State, conditionMessage(p, v1alpha1.ConditionConflict), len(p.Status.Volumes))
	}
	// The older policy still acts.
	w.observeAll(85, 10)
	eventually(t, "the older policy grows the cluster", func() (bool, string) {
		got := request(w.pvc("orders-2"))
		return got.Cmp(gi(12)) == 0, got.String()
	})
	if winner := w.policy("orders"); conditionIs(winner, v1alpha1.ConditionConflict, true) {
		t.Errorf("the older policy reports a conflict: %s", conditionMessage(winner, v1alpha1.ConditionConflict))
	}
}

// The conflict names the policy that governs the cluster, the oldest, as
// the webhooks choose it (admission.PolicyForCluster): not the first name
// in alphabetical order among the older ones.
func TestAConflictNamesTheOldestPolicyOfTheCluster(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	startController(t, w.namespace, clock, policy.Config{})
	// creationTimestamp counts seconds: a second apart, each is older.
	for _, name := range []string{"zz-first", "aa-second", "mm-third"} {
		w.createPolicy(name, threeInstancePolicy)
		time.Sleep(1100 * time.Millisecond)
	}
	for _, name := range []string{"aa-second", "mm-third"} {
		w.waitForStatus(name, "a conflict naming zz-first", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
			message := conditionMessage(p, v1alpha1.ConditionConflict)
			return conditionIs(p, v1alpha1.ConditionConflict, true) && strings.Contains(message, "policy zz-first is older"), message
		})
	}
	if winner := w.policy("zz-first"); conditionIs(winner, v1alpha1.ConditionConflict, true) {
		t.Errorf("the oldest policy reports a conflict: %s", conditionMessage(winner, v1alpha1.ConditionConflict))
	}
}

func TestSyncClusterSpecRaisesTheClusterSizesOnceTheGrowthIsDone(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	startController(t, w.namespace, clock, policy.Config{})
	w.createPolicy("orders", threeInstancePolicy+"syncClusterSpec: true\n")
	w.observe("orders-1", map[string]float64{"orders-1": 85, "orders-1-wal": 10})
	w.observe("orders-2", map[string]float64{"orders-2": 40, "orders-2-wal": 10})
	w.observe("orders-3", map[string]float64{"orders-3": 40, "orders-3-wal": 10})
	w.waitForStatus("orders", "the data growth in flight", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return len(p.Status.History) == 1, fmt.Sprint(p.Status.History)
	})
	cluster := &cnpgv1.Cluster{}
	must(t, env.Client.Get(context.Background(), client.ObjectKeyFromObject(w.cluster), cluster))
	if cluster.Spec.StorageConfiguration.Size != "10Gi" {
		t.Fatalf("spec.storage.size raised while the growth is in flight: %s", cluster.Spec.StorageConfiguration.Size)
	}
	for _, instance := range w.instances {
		w.finishResize(instance)
	}
	w.observeAll(71, 10)
	eventually(t, "spec.storage.size raised to 12Gi", func() (bool, string) {
		must(t, env.Client.Get(context.Background(), client.ObjectKeyFromObject(w.cluster), cluster))
		return cluster.Spec.StorageConfiguration.Size == "12Gi", cluster.Spec.StorageConfiguration.Size
	})
	if cluster.Spec.WalStorage.Size != "2Gi" {
		t.Errorf("spec.walStorage.size changed without a WAL growth: %s", cluster.Spec.WalStorage.Size)
	}
}

func TestTheReactionLatencyIsMeasuredFromTheObservationToThePatch(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	startController(t, w.namespace, clock, policy.Config{})
	w.createPolicy("orders", threeInstancePolicy)
	w.observeAll(40, 10)
	w.waitForStatus("orders", "an idle first status", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return p.Status.State == "Idle", p.Status.State
	})
	samples := histogramSamples(t, "planned")
	w.observe("orders-1", map[string]float64{"orders-1": 85, "orders-1-wal": 10})
	eventually(t, "the growth", func() (bool, string) {
		got := request(w.pvc("orders-3"))
		return got.Cmp(gi(12)) == 0, got.String()
	})
	// The sample is taken once every PVC of the growth is patched, just
	// after the last patch that the wait above saw.
	eventually(t, "one more reaction latency sample", func() (bool, string) {
		got := histogramSamples(t, "planned")
		return got == samples+1, fmt.Sprintf("%d -> %d", samples, got)
	})
	// One series per PVC, also for its state: the alert rules rely on it.
	for _, name := range []string{"pgstorage_volume_capacity_bytes", "pgstorage_volume_state", "pgstorage_volume_critical_used_ratio"} {
		if count := seriesOf(t, name, w.namespace); count != 6 {
			t.Errorf("%d %s series for this cluster, want 6", count, name)
		}
	}
	if count := seriesOf(t, "pgstorage_policy_condition", w.namespace); count == 0 {
		t.Error("no pgstorage_policy_condition series for this cluster")
	}
	// A deleted policy leaves no series behind.
	must(t, env.Client.Delete(context.Background(), w.policy("orders")))
	eventually(t, "the cluster's series deleted with its policy", func() (bool, string) {
		count := seriesOf(t, "pgstorage_volume_capacity_bytes", w.namespace) + seriesOf(t, "pgstorage_volume_state", w.namespace) +
			seriesOf(t, "pgstorage_policy_condition", w.namespace)
		return count == 0, fmt.Sprint(count, " series")
	})
}

// histogramSamples is the sample count of the reaction latency of one kind.
func histogramSamples(t *testing.T, kind string) uint64 {
	t.Helper()
	families, err := registry.Gather()
	must(t, err)
	for _, family := range families {
		if family.GetName() != "pgstorage_reaction_latency_seconds" {
			continue
		}
		for _, metric := range family.GetMetric() {
			for _, label := range metric.GetLabel() {
				if label.GetName() == "kind" && label.GetValue() == kind {
					return metric.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// seriesOf counts the series of a metric in one namespace.
func seriesOf(t *testing.T, name, namespace string) int {
	t.Helper()
	families, err := registry.Gather()
	must(t, err)
	count := 0
	for _, family := range families {
		if family.GetName() != name {
			continue
		}
		for _, metric := range family.GetMetric() {
			for _, label := range metric.GetLabel() {
				if label.GetName() == "namespace" && label.GetValue() == namespace {
					count++
				}
			}
		}
	}
	return count
}
