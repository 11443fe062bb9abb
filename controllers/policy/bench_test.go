package policy_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
)

// Benchmarks run against the real API server and are heavy: `make bench`
// runs them, `make test` does not (-run '^$' keeps the scenarios out, and
// the scenarios never call these).

// fleet is a namespace of N CNPG clusters, each with 3 instances and 3
// volumes per instance (data, WAL, one tablespace) and a policy.
type fleet struct {
	namespace string
	clusters  int
	class     string
	clock     *testClock
}

func newFleet(b *testing.B, clock *testClock) *fleet {
	b.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "fleet-"}}
	must(b, env.Client.Create(ctx, ns))
	f := &fleet{namespace: ns.Name, class: "sc-" + ns.Name, clock: clock}
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: f.class}, Provisioner: "disk.example.com", AllowVolumeExpansion: ptr.To(true)}
	must(b, env.Client.Create(ctx, class))
	return f
}

// growTo adds clusters until the fleet has n, with 8 writers in parallel.
func (f *fleet) growTo(b *testing.B, n int) {
	b.Helper()
	work := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for index := range work {
				if err := f.createCluster(index); err != nil {
					errs <- err
				}
			}
		})
	}
	for index := f.clusters; index < n; index++ {
		work <- index
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	f.clusters = max(f.clusters, n)
}

func (f *fleet) createCluster(index int) error {
	ctx := context.Background()
	c := env.Client
	name := fmt.Sprintf("c%04d", index)
	cluster := &cnpgv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.namespace},
		Spec: cnpgv1.ClusterSpec{
			Instances:            3,
			StorageConfiguration: cnpgv1.StorageConfiguration{Size: "10Gi"},
			WalStorage:           &cnpgv1.StorageConfiguration{Size: "2Gi"},
			Tablespaces:          []cnpgv1.TablespaceConfiguration{{Name: "idx", Storage: cnpgv1.StorageConfiguration{Size: "5Gi"}}},
		},
	}
	if err := c.Create(ctx, cluster); err != nil {
		return err
	}
	cluster.Status.CurrentPrimary = name + "-1"
	if err := c.Status().Update(ctx, cluster); err != nil {
		return err
	}
	for instanceIndex := 1; instanceIndex <= 3; instanceIndex++ {
		instance := fmt.Sprintf("%s-%d", name, instanceIndex)
		volumes := []struct {
			pvc, role, tablespace string
			sizeGi                int64
		}{{instance, "PG_DATA", "", 10}, {instance + "-wal", "PG_WAL", "", 2}, {instance + "-tbs-idx", "PG_TABLESPACE", "idx", 5}}
		// The pod first: the controller believes an observation only when
		// it agrees with the pod (UID, the PVCs it mounts).
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: instance, Namespace: f.namespace, Labels: map[string]string{
				"cnpg.io/cluster": name, "cnpg.io/instanceName": instance, "cnpg.io/podRole": "instance"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "postgres", Image: "postgres:15"}}},
		}
		for _, claim := range []string{instance, instance + "-wal", instance + "-tbs-idx"} {
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: claim,
				VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
		}
		if err := c.Create(ctx, pod); err != nil {
			return err
		}
		observation := &v1alpha1.StorageObservation{
			ObjectMeta: metav1.ObjectMeta{Name: instance, Namespace: f.namespace, Labels: map[string]string{"cnpg.io/cluster": name}},
			Spec:       v1alpha1.StorageObservationSpec{Cluster: name, Instance: instance, PodUID: string(pod.UID)},
		}
		observedAt := metav1.NewMicroTime(f.clock.Now())
		observation.Status = v1alpha1.StorageObservationStatus{ObservedAt: &observedAt, Role: v1alpha1.InstanceReplica,
			Postgres: v1alpha1.PostgresObservation{Reachable: true, Archiving: &v1alpha1.ArchivingObservation{Enabled: true, Healthy: true}}}
		for _, volume := range volumes {
			labels := map[string]string{"cnpg.io/cluster": name, "cnpg.io/instanceName": instance, "cnpg.io/pvcRole": volume.role}
			role := map[string]v1alpha1.VolumeRole{"PG_DATA": v1alpha1.RoleData, "PG_WAL": v1alpha1.RoleWAL, "PG_TABLESPACE": v1alpha1.RoleTablespace}[volume.role]
			if volume.tablespace != "" {
				labels["cnpg.io/tablespaceName"] = volume.tablespace
			}
			pvc := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: volume.pvc, Namespace: f.namespace, Labels: labels},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: gi(volume.sizeGi)}},
					StorageClassName: ptr.To(f.class),
				},
			}
			if err := c.Create(ctx, pvc); err != nil {
				return err
			}
			pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: gi(volume.sizeGi)}}
			if err := c.Status().Update(ctx, pvc); err != nil {
				return err
			}
			filesystemBytes := int64(float64(volume.sizeGi*gibibyte) * filesystemRatio)
			observation.Status.Volumes = append(observation.Status.Volumes, v1alpha1.ObservedVolume{
				Name: volume.pvc, Role: role, Tablespace: volume.tablespace, PVC: volume.pvc, MountPath: "/var/lib/postgresql/" + volume.pvc,
				CapacityBytes: filesystemBytes, UsedBytes: filesystemBytes / 2, AvailableBytes: filesystemBytes / 2,
			})
		}
		status := observation.Status
		if err := c.Create(ctx, observation); err != nil {
			return err
		}
		observation.Status = status
		if err := c.Status().Update(ctx, observation); err != nil {
			return err
		}
	}
	p := &v1alpha1.StorageAutoscalePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.namespace},
		Spec: v1alpha1.StorageAutoscalePolicySpec{
			ClusterRef: v1alpha1.ClusterReference{Name: name},
			Volumes: v1alpha1.VolumesSpec{
				Data:        v1alpha1.VolumePolicy{Limit: ptr.To(gi(100))},
				WAL:         &v1alpha1.VolumePolicy{Limit: ptr.To(gi(20))},
				Tablespaces: &v1alpha1.TablespacesSpec{Default: &v1alpha1.VolumePolicy{Limit: ptr.To(gi(50))}},
			},
		},
	}
	return c.Create(ctx, p)
}

// cachedManager starts a manager whose cache the benchmark reconciler
// reads, as the controller does, without the controller's own queue.
func cachedManager(b *testing.B, namespace string) (ctrl.Manager, func()) {
	b.Helper()
	manager, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{namespace: {}}, ByObject: policy.CacheByObject()},
	})
	must(b, err)
	must(b, policy.IndexFields(context.Background(), manager.GetFieldIndexer()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = manager.Start(ctx)
	}()
	if !manager.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("cache never synced")
	}
	return manager, func() { cancel(); <-done }
}

// waitForCache waits until the cache holds n policies and 9n PVCs.
func waitForCache(b *testing.B, reader client.Reader, namespace string, n int) {
	b.Helper()
	eventually(b, fmt.Sprintf("the cache holding %d policies", n), func() (bool, string) {
		var policies v1alpha1.StorageAutoscalePolicyList
		var pvcs corev1.PersistentVolumeClaimList
		must(b, reader.List(context.Background(), &policies, client.InNamespace(namespace)))
		must(b, reader.List(context.Background(), &pvcs, client.InNamespace(namespace)))
		return len(policies.Items) == n && len(pvcs.Items) == 9*n, fmt.Sprintf("%d policies, %d PVCs", len(policies.Items), len(pvcs.Items))
	})
}

func heapInUseMiB() float64 {
	runtime.GC()
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	return float64(stats.HeapInuse) / (1 << 20)
}

// BenchmarkReconcile is the cost of one steady-state reconcile (everything
// read, planned and reported; the status unchanged, so nothing written)
// with N policies of 3 instances x 3 volumes in the cache, and the heap
// the cache and the reconciler hold at that size.
func BenchmarkReconcile(b *testing.B) {
	clock := newTestClock()
	f := newFleet(b, clock)
	for _, size := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("policies=%d", size), func(b *testing.B) {
			f.growTo(b, size)
			manager, stop := cachedManager(b, f.namespace)
			defer stop()
			waitForCache(b, manager.GetClient(), f.namespace, size)
			reconciler := &policy.Reconciler{Client: manager.GetClient(), APIReader: manager.GetAPIReader(), Clock: clock,
				Config: policy.Config{ResizeTimeout: policy.DefaultResizeTimeout, QuotaRetryInterval: policy.DefaultQuotaRetryInterval}}
			ctx := context.Background()
			requests := make([]ctrl.Request, size)
			for index := range size {
				requests[index] = ctrl.Request{NamespacedName: types.NamespacedName{Namespace: f.namespace, Name: fmt.Sprintf("c%04d", index)}}
			}
			// First pass: write each policy's first status.
			for _, request := range requests {
				if _, err := reconciler.Reconcile(ctx, request); err != nil {
					b.Fatal(err)
				}
			}
			heap := heapInUseMiB()
			b.ReportAllocs()
			for index := 0; b.Loop(); index++ {
				if _, err := reconciler.Reconcile(ctx, requests[index%size]); err != nil {
					b.Fatal(err)
				}
			}
			// After the loop: b.Loop resets what is reported before it.
			b.ReportMetric(heap, "heap-MiB")
		})
	}
}

// BenchmarkReactionLatency is the time from writing an observation over the
// critical threshold to the controller's PVC patch reaching a watcher, with
// the whole controller running on an otherwise idle control plane. It
// reports the distribution's p50, p90, p99 and max.
func BenchmarkReactionLatency(b *testing.B) {
	ctx := context.Background()
	clock := &realClock{}
	w := newWorld(b, nil, worldOptions{instances: 1, dataGi: 1, walGi: 0, expandable: true})
	handle := startController(b, w.namespace, clock, policy.Config{})
	defer handle.Stop()
	// A single-volume cluster, no cooldown and the largest budget: each
	// iteration is a new emergency growth of the same PVC.
	w.createPolicy("orders", "clusterRef: {name: orders}\nvolumes:\n  data: {limit: 100Ti, cooldown: 0s}\nwalSafety: {acknowledgeSingleVolume: true}\nbudget: {maxActionsPerDay: 48, emergencyReserve: 48}\n")

	patched := make(chan time.Time, 1)
	watcher, stop := cachedManager(b, w.namespace)
	defer stop()
	informer, err := watcher.GetCache().GetInformer(ctx, &corev1.PersistentVolumeClaim{})
	must(b, err)
	_, err = informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{UpdateFunc: func(old, new any) {
		before, after := request(old.(*corev1.PersistentVolumeClaim)), request(new.(*corev1.PersistentVolumeClaim))
		if after.Cmp(before) > 0 {
			select {
			case patched <- time.Now():
			default:
			}
		}
	}})
	must(b, err)

	lastPatch := time.Now()
	grow := func() time.Duration {
		w.finishResizeNow(w.pvc("orders-1"))
		// A growth is recorded at its time rounded up to the second, and an
		// observation older than the last growth is not acted on: the
		// sidecar's next write after a growth comes later than that anyway.
		time.Sleep(time.Until(lastPatch.Truncate(time.Second).Add(1100 * time.Millisecond)))
		written := w.observeNow("orders-1", 97)
		select {
		case at := <-patched:
			lastPatch = at
			return at.Sub(written)
		case <-time.After(30 * time.Second):
			b.Fatal("no patch within 30s")
		}
		return 0
	}
	// The first growth warms the caches and connections up; not counted.
	grow()
	var latencies []time.Duration
	for index := 0; b.Loop(); index++ {
		if index >= 40 {
			b.Fatal("the budget allows 48 growths a day: run with -benchtime=40x or less")
		}
		latencies = append(latencies, grow())
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

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// finishResizeNow completes the last growth (capacity = request), so the
// next observation may start another.
func (w *world) finishResizeNow(pvc *corev1.PersistentVolumeClaim) {
	w.t.Helper()
	pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: request(pvc)}
	pvc.Status.AllocatedResourceStatuses = nil
	must(w.t, env.Client.Status().Update(context.Background(), pvc))
}

// observeNow writes an observation of the data volume at usedPercent,
// measured now by the wall clock, and returns when the write started.
func (w *world) observeNow(instance string, usedPercent float64) time.Time {
	w.t.Helper()
	ctx := context.Background()
	pvc := w.pvc(instance)
	capacity := pvc.Status.Capacity[corev1.ResourceStorage]
	filesystemBytes := int64(float64(capacity.Value()) * filesystemRatio)
	usedBytes := int64(float64(filesystemBytes) * usedPercent / 100)
	observation := &v1alpha1.StorageObservation{}
	key := client.ObjectKey{Namespace: w.namespace, Name: instance}
	if err := env.Client.Get(ctx, key, observation); err != nil {
		observation = &v1alpha1.StorageObservation{
			ObjectMeta: metav1.ObjectMeta{Name: instance, Namespace: w.namespace},
			Spec:       v1alpha1.StorageObservationSpec{Cluster: "orders", Instance: instance, PodUID: w.podUID(instance)},
		}
		must(w.t, env.Client.Create(ctx, observation))
	}
	written := time.Now()
	observedAt := metav1.NewMicroTime(written)
	observation.Status = v1alpha1.StorageObservationStatus{
		ObservedAt: &observedAt, Role: v1alpha1.InstancePrimary,
		Postgres: v1alpha1.PostgresObservation{Reachable: true, Archiving: &v1alpha1.ArchivingObservation{Enabled: true, Healthy: true}},
		Volumes: []v1alpha1.ObservedVolume{{Name: "pgdata", Role: v1alpha1.RoleData, PVC: instance, MountPath: "/var/lib/postgresql/data",
			CapacityBytes: filesystemBytes, UsedBytes: usedBytes, AvailableBytes: filesystemBytes - usedBytes}},
	}
	must(w.t, env.Client.Status().Update(ctx, observation))
	return written
}
