package policy_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

const gibibyte = int64(1) << 30

func gi(n int64) resource.Quantity { return *resource.NewQuantity(n*gibibyte, resource.BinarySI) }

// filesystemRatio is XFS's usable share of a volume (983040 KiB of 1 GiB).
const filesystemRatio = 0.9375

// world is one CNPG cluster as the controller sees it: a namespace, a
// StorageClass, the Cluster, and per instance a pod and its PVCs bound to PVs.
type world struct {
	t         testing.TB
	namespace string
	class     string
	cluster   *cnpgv1.Cluster
	instances []string
	clock     *testClock
}

type worldOptions struct {
	instances  int
	dataGi     int64
	walGi      int64 // 0: no WAL volume
	expandable bool
}

func newWorld(t testing.TB, clock *testClock, options worldOptions) *world {
	t.Helper()
	ctx := context.Background()
	c := env.Client
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "policy-"}}
	must(t, c.Create(ctx, ns))
	w := &world{t: t, namespace: ns.Name, class: "sc-" + ns.Name, clock: clock}
	class := &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: w.class},
		Provisioner:          "disk.example.com",
		AllowVolumeExpansion: ptr.To(options.expandable),
	}
	must(t, c.Create(ctx, class))
	t.Cleanup(func() { _ = c.Delete(context.Background(), class) })

	w.cluster = &cnpgv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: w.namespace},
		Spec: cnpgv1.ClusterSpec{
			Instances:            options.instances,
			StorageConfiguration: cnpgv1.StorageConfiguration{Size: fmt.Sprintf("%dGi", options.dataGi), StorageClass: ptr.To(w.class)},
		},
	}
	if options.walGi > 0 {
		w.cluster.Spec.WalStorage = &cnpgv1.StorageConfiguration{Size: fmt.Sprintf("%dGi", options.walGi), StorageClass: ptr.To(w.class)}
	}
	must(t, c.Create(ctx, w.cluster))
	w.cluster.Status.CurrentPrimary = "orders-1"
	must(t, c.Status().Update(ctx, w.cluster))

	for index := 1; index <= options.instances; index++ {
		instance := fmt.Sprintf("orders-%d", index)
		w.instances = append(w.instances, instance)
		w.createPVC(instance, instance, "PG_DATA", options.dataGi)
		claims := []string{instance}
		if options.walGi > 0 {
			w.createPVC(instance+"-wal", instance, "PG_WAL", options.walGi)
			claims = append(claims, instance+"-wal")
		}
		w.createPod("orders", instance, claims...)
	}
	return w
}

// createPod creates an instance pod of cluster, scheduled (there is no
// scheduler: spec.nodeName is set at creation) and mounting claims, as
// CNPG's pods mount their PVCs.
func (w *world) createPod(cluster, instance string, claims ...string) *corev1.Pod {
	w.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: instance, Namespace: w.namespace, Labels: map[string]string{
			"cnpg.io/cluster": cluster, "cnpg.io/instanceName": instance, "cnpg.io/podRole": "instance",
		}},
		Spec: corev1.PodSpec{
			NodeName:   "node-" + instance,
			Containers: []corev1.Container{{Name: "postgres", Image: "postgres:15"}},
		},
	}
	for index, claim := range claims {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
			Name:         fmt.Sprintf("pvc-%d", index),
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}},
		})
	}
	must(w.t, env.Client.Create(context.Background(), pod))
	return pod
}

// createPVC creates a PV and a CNPG PVC bound to it, with the status a
// controller-manager would give it.
func (w *world) createPVC(name, instance, role string, sizeGi int64) {
	w.t.Helper()
	w.createClusterPVC("orders", name, instance, role, sizeGi)
}

// createClusterPVC is createPVC for a PVC of another cluster.
func (w *world) createClusterPVC(cluster, name, instance, role string, sizeGi int64) {
	w.t.Helper()
	ctx := context.Background()
	c := env.Client
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: w.namespace + "-" + name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: gi(sizeGi)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              w.class,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "disk.example.com", VolumeHandle: w.namespace + "-" + name}},
			ClaimRef:                      &corev1.ObjectReference{Namespace: w.namespace, Name: name},
		},
	}
	must(w.t, c.Create(ctx, pv))
	w.t.Cleanup(func() { _ = c.Delete(context.Background(), pv) })
	pvc := w.cnpgPVC(cluster, name, instance, role, sizeGi)
	pvc.Spec.VolumeName = pv.Name
	must(w.t, c.Create(ctx, pvc))
	pvc.Status = boundStatus(sizeGi)
	must(w.t, c.Status().Update(ctx, pvc))
}

// cnpgPVC is a PVC as CNPG makes it for an instance of cluster.
func (w *world) cnpgPVC(cluster, name, instance, role string, sizeGi int64) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.namespace, Labels: map[string]string{
			"cnpg.io/cluster": cluster, "cnpg.io/instanceName": instance, "cnpg.io/pvcRole": role,
		}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: gi(sizeGi)}},
			StorageClassName: ptr.To(w.class),
		},
	}
}

// boundStatus is the status a controller-manager gives a bound PVC.
func boundStatus(sizeGi int64) corev1.PersistentVolumeClaimStatus {
	return corev1.PersistentVolumeClaimStatus{
		Phase:       corev1.ClaimBound,
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Capacity:    corev1.ResourceList{corev1.ResourceStorage: gi(sizeGi)},
	}
}

// createPendingPVC creates a CNPG PVC that no volume is bound to yet, as a
// new replica's claim is until the provisioner has made its volume.
func (w *world) createPendingPVC(name, instance, role string, sizeGi int64) {
	w.t.Helper()
	must(w.t, env.Client.Create(context.Background(), w.cnpgPVC("orders", name, instance, role, sizeGi)))
}

// bind gives a pending PVC the status a controller-manager gives it when
// its volume is bound.
func (w *world) bind(name string, sizeGi int64) {
	w.t.Helper()
	pvc := w.pvc(name)
	pvc.Status = boundStatus(sizeGi)
	must(w.t, env.Client.Status().Update(context.Background(), pvc))
}

// createPolicy creates the policy from YAML (the spec only), as a user would.
func (w *world) createPolicy(name, specYAML string) *v1alpha1.StorageAutoscalePolicy {
	w.t.Helper()
	policy := &v1alpha1.StorageAutoscalePolicy{}
	doc := "metadata: {name: " + name + "}\nspec:\n" + indent(specYAML)
	if err := yaml.UnmarshalStrict([]byte(doc), policy); err != nil {
		w.t.Fatalf("policy YAML: %v\n%s", err, doc)
	}
	policy.Namespace = w.namespace
	must(w.t, env.Client.Create(context.Background(), policy))
	return policy
}

func indent(text string) string {
	lines := strings.Split(strings.Trim(text, "\n"), "\n")
	for index := range lines {
		lines[index] = "  " + lines[index]
	}
	return strings.Join(lines, "\n") + "\n"
}

// observe writes an instance's observation as its sidecar would, measured
// now by the test clock: usedPercent per PVC, on a filesystem the size of
// the PVC's current capacity.
func (w *world) observe(instance string, usedPercent map[string]float64) {
	w.t.Helper()
	ctx := context.Background()
	c := env.Client
	observation := &v1alpha1.StorageObservation{}
	key := client.ObjectKey{Namespace: w.namespace, Name: instance}
	if err := c.Get(ctx, key, observation); apierrors.IsNotFound(err) {
		observation = &v1alpha1.StorageObservation{
			ObjectMeta: metav1.ObjectMeta{Name: instance, Namespace: w.namespace, Labels: map[string]string{"cnpg.io/cluster": "orders"}},
			Spec:       v1alpha1.StorageObservationSpec{Cluster: "orders", Instance: instance, PodUID: w.podUID(instance)},
		}
		must(w.t, c.Create(ctx, observation))
	} else {
		must(w.t, err)
	}
	role := v1alpha1.InstanceReplica
	if instance == w.cluster.Status.CurrentPrimary {
		role = v1alpha1.InstancePrimary
	}
	observedAt := metav1.NewMicroTime(w.clock.Now())
	status := v1alpha1.StorageObservationStatus{
		ObservedAt: &observedAt,
		Role:       role,
		Postgres: v1alpha1.PostgresObservation{
			Reachable: true,
			Archiving: &v1alpha1.ArchivingObservation{Enabled: true, Healthy: true},
		},
	}
	for _, pvcName := range sortedNames(usedPercent) {
		pvc := w.pvc(pvcName)
		capacity := pvc.Status.Capacity[corev1.ResourceStorage]
		filesystemBytes := int64(float64(capacity.Value()) * filesystemRatio)
		usedBytes := int64(float64(filesystemBytes) * usedPercent[pvcName] / 100)
		volumeRole := v1alpha1.RoleData
		if pvc.Labels["cnpg.io/pvcRole"] == "PG_WAL" {
			volumeRole = v1alpha1.RoleWAL
		}
		status.Volumes = append(status.Volumes, v1alpha1.ObservedVolume{
			Name: pvcName, Role: volumeRole, PVC: pvcName, MountPath: "/var/lib/postgresql/" + string(volumeRole),
			CapacityBytes: filesystemBytes, UsedBytes: usedBytes, AvailableBytes: filesystemBytes - usedBytes,
			InodesTotal: 1 << 20, InodesFree: 1 << 19,
		})
	}
	observation.Status = status
	must(w.t, c.Status().Update(ctx, observation))
}

// observeAll writes every instance's observation with the same used % per role.
func (w *world) observeAll(dataPercent, walPercent float64) {
	w.t.Helper()
	for _, instance := range w.instances {
		used := map[string]float64{instance: dataPercent}
		if w.cluster.Spec.WalStorage != nil {
			used[instance+"-wal"] = walPercent
		}
		w.observe(instance, used)
	}
}

// podUID is the UID of the live pod named name, which its sidecar writes
// into spec.podUID from the downward API.
func (w *world) podUID(name string) string {
	w.t.Helper()
	pod := &corev1.Pod{}
	must(w.t, env.Client.Get(context.Background(), client.ObjectKey{Namespace: w.namespace, Name: name}, pod))
	return string(pod.UID)
}

func (w *world) pvc(name string) *corev1.PersistentVolumeClaim {
	w.t.Helper()
	pvc := &corev1.PersistentVolumeClaim{}
	must(w.t, env.Client.Get(context.Background(), client.ObjectKey{Namespace: w.namespace, Name: name}, pvc))
	return pvc
}

func (w *world) policy(name string) *v1alpha1.StorageAutoscalePolicy {
	w.t.Helper()
	policy := &v1alpha1.StorageAutoscalePolicy{}
	must(w.t, env.Client.Get(context.Background(), client.ObjectKey{Namespace: w.namespace, Name: name}, policy))
	return policy
}

func request(pvc *corev1.PersistentVolumeClaim) resource.Quantity {
	return pvc.Spec.Resources.Requests[corev1.ResourceStorage]
}

// resizerStep is one step of the expansion protocol, written to the PVC
// status as the external-resizer or kubelet would.
type resizerStep struct {
	allocated  corev1.ClaimResourceStatus // "" clears it
	capacity   resource.Quantity          // zero: unchanged
	conditions []corev1.PersistentVolumeClaimCondition
}

func (w *world) resizer(name string, step resizerStep) {
	w.t.Helper()
	pvc := w.pvc(name)
	if step.allocated == "" {
		pvc.Status.AllocatedResourceStatuses = nil
		pvc.Status.AllocatedResources = nil
	} else {
		pvc.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{corev1.ResourceStorage: step.allocated}
		pvc.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceStorage: request(pvc)}
	}
	if !step.capacity.IsZero() {
		pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: step.capacity}
	}
	pvc.Status.Conditions = step.conditions
	must(w.t, env.Client.Status().Update(context.Background(), pvc))
}

// finishResize plays a whole successful growth: the PV and the filesystem
// reach the request and the protocol's statuses clear.
func (w *world) finishResize(name string) {
	w.t.Helper()
	w.resizer(name, resizerStep{capacity: request(w.pvc(name))})
}

// eventually polls until check passes; the deadline only bounds a broken
// test, it asserts no timing.
func eventually(t testing.TB, what string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := check()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never happened; last seen: %s", what, last)
}

// waitForStatus waits until the policy's status passes check.
func (w *world) waitForStatus(name, what string, check func(*v1alpha1.StorageAutoscalePolicy) (bool, string)) *v1alpha1.StorageAutoscalePolicy {
	w.t.Helper()
	var policy *v1alpha1.StorageAutoscalePolicy
	eventually(w.t, what, func() (bool, string) {
		policy = w.policy(name)
		return check(policy)
	})
	return policy
}

// events are the events.k8s.io Events about one object.
func (w *world) events(kind, name string) []eventsv1.Event {
	w.t.Helper()
	var list eventsv1.EventList
	must(w.t, env.Client.List(context.Background(), &list, client.InNamespace(w.namespace)))
	var matching []eventsv1.Event
	for _, event := range list.Items {
		if event.Regarding.Kind == kind && event.Regarding.Name == name {
			matching = append(matching, event)
		}
	}
	return matching
}

func hasEvent(events []eventsv1.Event, reason, noteContains string) bool {
	for _, event := range events {
		if event.Reason == reason && strings.Contains(event.Note, noteContains) {
			return true
		}
	}
	return false
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func sortedNames[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
