package policy_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
)

const nudgeAnnotation = "pgstorage.io/resize-nudge"

// The test plays the external-resizer: once the PV has grown, a PVC waits in
// NodeResizePending for kubelet's next sync of the pod that mounts it, and
// the controller annotates that pod so that the sync happens now.
func TestKubeletIsNudgedOncePerGrowthOnlyOnTheClusterPodsThatWaitForIt(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 2, dataGi: 10, walGi: 2, expandable: true})
	// A pod of another cluster that mounts orders-1 as well: orders' policy
	// never touches it.
	stranger := w.createPod("reports", "reports-1", "orders-1")
	// billing: a cluster whose policy turns the nudge off.
	w.createCluster("billing", 10)
	w.createClusterPVC("billing", "billing-1", "billing-1", "PG_DATA", 10)
	w.createPod("billing", "billing-1", "billing-1")
	w.createPolicy("billing", "clusterRef: {name: billing}\nnudgeKubelet: false\nvolumes:\n  data: {limit: 100Gi}\nwalSafety: {acknowledgeSingleVolume: true}\n")

	first := startController(t, w.namespace, clock, policy.Config{})
	w.createPolicy("orders", threeInstancePolicy)
	w.observe("orders-1", map[string]float64{"orders-1": 85, "orders-1-wal": 10})
	w.observe("orders-2", map[string]float64{"orders-2": 40, "orders-2-wal": 10})
	w.waitForStatus("orders", "the data growth in flight", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return len(p.Status.History) == 1 && len(p.Status.History[0].PVCs) == 2, fmt.Sprintf("history %+v", p.Status.History)
	})
	beforeNudge := w.pod("orders-1")
	if beforeNudge.Annotations[nudgeAnnotation] != "" {
		t.Fatalf("pod orders-1 nudged before any PVC waited for kubelet: %v", beforeNudge.Annotations)
	}

	// The PV of orders-1 has grown: kubelet's turn. orders-2's resizer is
	// still at work.
	w.resizer("orders-1", resizerStep{allocated: corev1.PersistentVolumeClaimNodeResizePending, capacity: gi(12),
		conditions: []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimFileSystemResizePending, Status: corev1.ConditionTrue}}})
	w.resizer("orders-2", resizerStep{allocated: corev1.PersistentVolumeClaimControllerResizeInProgress,
		conditions: []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimResizing, Status: corev1.ConditionTrue}}})
	eventually(t, "pod orders-1 nudged for its growth to 12Gi", func() (bool, string) {
		annotations := w.pod("orders-1").Annotations
		return annotations[nudgeAnnotation] == "orders-1@12Gi", fmt.Sprint(annotations)
	})
	nudged := w.pod("orders-1")
	eventually(t, "a KubeletNudged Event on PVC orders-1", func() (bool, string) {
		events := w.events("PersistentVolumeClaim", "orders-1")
		return hasEvent(events, "KubeletNudged", "nudged kubelet to grow the filesystem of orders-1 now"), fmt.Sprint(events)
	})
	if got := nudgeCount(t, w.namespace, "orders"); got != 1 {
		t.Errorf("pgstorage_kubelet_nudges_total %v, want 1", got)
	}
	if pod := w.pod("orders-2"); pod.Annotations[nudgeAnnotation] != "" {
		t.Errorf("pod orders-2 nudged while its PVC waits for the resizer, not kubelet: %v", pod.Annotations)
	}
	// The nudge changed its annotation and nothing else.
	if !maps.Equal(beforeNudge.Labels, nudged.Labels) || !maps.Equal(beforeNudge.Annotations, withoutNudge(nudged.Annotations)) ||
		!equality.Semantic.DeepEqual(beforeNudge.Spec, nudged.Spec) {
		t.Errorf("the nudge changed more than its annotation:\nlabels %v -> %v\nannotations %v -> %v",
			beforeNudge.Labels, nudged.Labels, beforeNudge.Annotations, nudged.Annotations)
	}

	// Another reconcile of the same growth does not nudge again.
	w.observe("orders-1", map[string]float64{"orders-1": 90, "orders-1-wal": 10})
	reconciledOn(w, 90)
	assertUnchanged(t, w, nudged)
	// Nor does a restarted controller: the annotation is the memory.
	first.Stop()
	startController(t, w.namespace, clock, policy.Config{})
	w.observe("orders-1", map[string]float64{"orders-1": 91, "orders-1-wal": 10})
	reconciledOn(w, 91)
	assertUnchanged(t, w, nudged)
	if got := nudgeCount(t, w.namespace, "orders"); got != 1 {
		t.Errorf("pgstorage_kubelet_nudges_total %v after two more reconciles and a restart, want 1", got)
	}

	// orders-2 reaches kubelet's turn: its own pod is nudged, once.
	w.resizer("orders-2", resizerStep{allocated: corev1.PersistentVolumeClaimNodeResizePending, capacity: gi(12)})
	eventually(t, "pod orders-2 nudged for its growth to 12Gi", func() (bool, string) {
		annotations := w.pod("orders-2").Annotations
		return annotations[nudgeAnnotation] == "orders-2@12Gi", fmt.Sprint(annotations)
	})
	assertUnchanged(t, w, nudged)
	if got := w.pod(stranger.Name); got.ResourceVersion != stranger.ResourceVersion || got.Annotations[nudgeAnnotation] != "" {
		t.Errorf("the pod of another cluster that mounts orders-1 was changed: %v", got.Annotations)
	}

	// billing (nudgeKubelet: false): a user grew billing-1, the PV has grown,
	// and a reconcile has seen it waiting for kubelet; its pod is left alone.
	must(t, env.Client.Patch(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: w.namespace, Name: "billing-1"}},
		client.RawPatch(types.MergePatchType, []byte(`{"spec":{"resources":{"requests":{"storage":"12Gi"}}}}`))))
	w.resizer("billing-1", resizerStep{allocated: corev1.PersistentVolumeClaimNodeResizePending, capacity: gi(12)})
	w.waitForStatus("billing", "billing's policy to see billing-1 waiting for kubelet", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		message := conditionMessage(p, v1alpha1.ConditionResizeInProgress)
		return strings.Contains(message, "billing-1 (") && strings.Contains(message, "NodeResizePending"), message
	})
	if pod := w.pod("billing-1"); pod.Annotations[nudgeAnnotation] != "" {
		t.Errorf("pod billing-1 nudged although its policy says nudgeKubelet: false: %v", pod.Annotations)
	}
	if got := nudgeCount(t, w.namespace, "billing"); got != 0 {
		t.Errorf("pgstorage_kubelet_nudges_total for billing %v, want 0", got)
	}
}

func (w *world) pod(name string) *corev1.Pod {
	w.t.Helper()
	pod := &corev1.Pod{}
	must(w.t, env.Client.Get(context.Background(), client.ObjectKey{Namespace: w.namespace, Name: name}, pod))
	return pod
}

func withoutNudge(annotations map[string]string) map[string]string {
	out := maps.Clone(annotations)
	delete(out, nudgeAnnotation)
	return out
}

// assertUnchanged: the pod was not written since it was read (a no-op
// patch would not bump resourceVersion either, but then nothing reached
// kubelet, which is the point).
func assertUnchanged(t *testing.T, w *world, pod *corev1.Pod) {
	t.Helper()
	if got := w.pod(pod.Name); got.ResourceVersion != pod.ResourceVersion || got.Annotations[nudgeAnnotation] != pod.Annotations[nudgeAnnotation] {
		t.Errorf("pod %s changed again (resourceVersion %s -> %s, nudge %q -> %q)", pod.Name,
			pod.ResourceVersion, got.ResourceVersion, pod.Annotations[nudgeAnnotation], got.Annotations[nudgeAnnotation])
	}
}

// createCluster creates another CNPG Cluster in the world's namespace.
func (w *world) createCluster(name string, dataGi int64) {
	w.t.Helper()
	cluster := &cnpgv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.namespace},
		Spec: cnpgv1.ClusterSpec{
			Instances:            1,
			StorageConfiguration: cnpgv1.StorageConfiguration{Size: fmt.Sprintf("%dGi", dataGi), StorageClass: ptr.To(w.class)},
		},
	}
	must(w.t, env.Client.Create(context.Background(), cluster))
}

// nudgeCount reads pgstorage_kubelet_nudges_total{outcome="Nudged"} of one
// cluster from the process's metrics registry.
func nudgeCount(t *testing.T, namespace, cluster string) float64 {
	t.Helper()
	families, err := registry.Gather()
	must(t, err)
	for _, family := range families {
		if family.GetName() != "pgstorage_kubelet_nudges_total" {
			continue
		}
		for _, metric := range family.GetMetric() {
			labels := map[string]string{}
			for _, label := range metric.GetLabel() {
				labels[label.GetName()] = label.GetValue()
			}
			if labels["namespace"] == namespace && labels["cluster"] == cluster && labels["outcome"] == "Nudged" {
				return metric.GetCounter().GetValue()
			}
		}
	}
	return 0
}
