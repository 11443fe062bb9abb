package policy_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
)

// BenchmarkNudgeLatency is the time from the resizer's status write that
// puts a PVC in NodeResizePending to a watcher seeing the nudge annotation
// on the pod that mounts it, with the whole controller running on an
// otherwise idle control plane: what the controller adds before kubelet
// can act. (kubelet's own reaction to the pod update is measured in the
// sandbox; envtest has no kubelet.) It reports p50, p90, p99 and max.
//
//	go test -run '^$' -bench NudgeLatency -benchtime 30x ./controllers/policy/
func BenchmarkNudgeLatency(b *testing.B) {
	ctx := context.Background()
	w := newWorld(b, nil, worldOptions{instances: 1, dataGi: 1, walGi: 0, expandable: true})
	handle := startController(b, w.namespace, &realClock{}, policy.Config{})
	defer handle.Stop()
	w.createPolicy("orders", "clusterRef: {name: orders}\nvolumes:\n  data: {limit: 100Ti}\nwalSafety: {acknowledgeSingleVolume: true}\n")

	nudged := make(chan string, 1)
	watcher, stop := cachedManager(b, w.namespace)
	defer stop()
	informer, err := watcher.GetCache().GetInformer(ctx, &corev1.Pod{})
	must(b, err)
	_, err = informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{UpdateFunc: func(old, new any) {
		before, after := old.(*corev1.Pod).Annotations[nudgeAnnotation], new.(*corev1.Pod).Annotations[nudgeAnnotation]
		if after != before {
			select {
			case nudged <- after:
			default:
			}
		}
	}})
	must(b, err)

	size := int64(1)
	// nudge plays one growth of orders-1 by 1Gi: the request is raised (as
	// the controller or a user would), then, a moment later, the resizer
	// reports the PV grown and the filesystem waiting for kubelet.
	nudge := func() time.Duration {
		size++
		must(b, env.Client.Patch(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: w.pvc("orders-1").ObjectMeta},
			client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"resources":{"requests":{"storage":"%dGi"}}}}`, size))))
		time.Sleep(200 * time.Millisecond) // let the reconcile of the request settle: not measured
		pvc := w.pvc("orders-1")
		pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: gi(size)}
		pvc.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceStorage: gi(size)}
		pvc.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{corev1.ResourceStorage: corev1.PersistentVolumeClaimNodeResizePending}
		written := time.Now()
		must(b, env.Client.Status().Update(ctx, pvc))
		want := fmt.Sprintf("orders-1@%dGi", size)
		for {
			select {
			case value := <-nudged:
				if value == want {
					return time.Since(written)
				}
			case <-time.After(30 * time.Second):
				b.Fatalf("pod orders-1 not nudged for %s within 30s", want)
			}
		}
	}
	// The first nudge warms the caches and connections up; not counted.
	nudge()
	var latencies []time.Duration
	for b.Loop() {
		latencies = append(latencies, nudge())
	}
	slices.Sort(latencies)
	quantile := func(q float64) float64 {
		return latencies[min(int(q*float64(len(latencies))), len(latencies)-1)].Seconds() * 1000
	}
	b.ReportMetric(quantile(0.5), "p50-ms")
	b.ReportMetric(quantile(0.9), "p90-ms")
	b.ReportMetric(quantile(0.99), "p99-ms")
	b.ReportMetric(latencies[len(latencies)-1].Seconds()*1000, "max-ms")
}
