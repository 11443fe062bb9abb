package kubectlplugin_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
)

// The world the plugin's tests read, on a real kube-apiserver. The test
// plays the CNPG operator (Cluster status), the sidecars (observations),
// the resizer (PVC status) and the controller (policy status).

// testNow is the plugin's clock in every test: goldens hold times.
var testNow = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

const (
	gibibyte = int64(1) << 30
	// filesystemRatio is XFS's usable share of a volume.
	filesystemRatio = 0.9375
	testClass       = "plugin-expandable"
)

func gi(n int64) resource.Quantity { return *resource.NewQuantity(n*gibibyte, resource.BinarySI) }

// writeKubeconfig writes a kubeconfig for the test API server, as a user
// would have one, with its namespace set to defaultNamespace.
func writeKubeconfig(dir string, config *rest.Config, defaultNamespace string) (string, error) {
	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.Clusters["envtest"] = &clientcmdapi.Cluster{Server: config.Host, CertificateAuthorityData: config.CAData}
	kubeconfig.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: config.CertData, ClientKeyData: config.KeyData, Token: config.BearerToken}
	kubeconfig.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: defaultNamespace}
	kubeconfig.CurrentContext = "envtest"
	path := filepath.Join(dir, "kubeconfig")
	return path, clientcmd.WriteToFile(*kubeconfig, path)
}

// world creates objects with a client that plays every other part.
type world struct {
	ctx context.Context
	c   client.Client
	err error
}

func (w *world) must(err error) {
	if w.err == nil && err != nil {
		w.err = err
	}
}

func (w *world) namespace(name string) {
	w.must(w.c.Create(w.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
}

func (w *world) storageClass() {
	w.must(w.c.Create(w.ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: testClass}, Provisioner: "csi.example.com", AllowVolumeExpansion: ptr.To(true),
	}))
}

// volumeSpec is one PVC of an instance: its role label, size and use.
type volumeSpec struct {
	name        string
	role        string // PG_DATA, PG_WAL
	sizeGi      int64
	usedPercent float64
	// capacityGi is status.capacity when a growth has not reached it; 0:
	// sizeGi.
	capacityGi int64
	// refused is the storage driver's message when it refused the growth
	// to sizeGi (ControllerResizeInfeasible).
	refused string
}

func (v volumeSpec) capacity() int64 {
	if v.capacityGi > 0 {
		return v.capacityGi
	}
	return v.sizeGi
}

// cluster creates a CNPG Cluster with its primary, and per instance the
// PVCs, a pod mounting them and the pod's observation, measured ago before
// testNow.
func (w *world) cluster(namespace, name string, walGi int64, instances map[string][]volumeSpec, ago time.Duration) {
	dataGi := instances[name+"-1"][0].sizeGi
	cluster := &cnpgv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: cnpgv1.ClusterSpec{
			Instances:            len(instances),
			StorageConfiguration: cnpgv1.StorageConfiguration{Size: fmt.Sprintf("%dGi", dataGi), StorageClass: ptr.To(testClass)},
		},
	}
	if walGi > 0 {
		cluster.Spec.WalStorage = &cnpgv1.StorageConfiguration{Size: fmt.Sprintf("%dGi", walGi), StorageClass: ptr.To(testClass)}
	}
	w.must(w.c.Create(w.ctx, cluster))
	cluster.Status.CurrentPrimary = name + "-1"
	w.must(w.c.Status().Update(w.ctx, cluster))
	for index := 1; index <= len(instances); index++ {
		instance := fmt.Sprintf("%s-%d", name, index)
		volumes := instances[instance]
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: instance, Namespace: namespace, Labels: map[string]string{
				"cnpg.io/cluster": name, "cnpg.io/instanceName": instance, "cnpg.io/podRole": "instance",
			}},
			Spec: corev1.PodSpec{NodeName: "node-" + instance, Containers: []corev1.Container{{Name: "postgres", Image: "postgres:17"}}},
		}
		for _, volume := range volumes {
			w.pvc(namespace, name, instance, volume)
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
				Name:         volume.name,
				VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: volume.name}},
			})
		}
		w.must(w.c.Create(w.ctx, pod))
		w.observation(namespace, name, pod, index == 1, volumes, testNow.Add(-ago))
	}
}

func (w *world) pvc(namespace, cluster, instance string, volume volumeSpec) {
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: volume.name, Namespace: namespace, Labels: map[string]string{
			"cnpg.io/cluster": cluster, "cnpg.io/instanceName": instance, "cnpg.io/pvcRole": volume.role,
		}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: gi(volume.sizeGi)}},
			StorageClassName: ptr.To(testClass),
			VolumeName:       "pv-" + namespace + "-" + volume.name,
		},
	}
	w.must(w.c.Create(w.ctx, pvc))
	pvc.Status = corev1.PersistentVolumeClaimStatus{
		Phase:       corev1.ClaimBound,
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Capacity:    corev1.ResourceList{corev1.ResourceStorage: gi(volume.capacity())},
	}
	if volume.refused != "" {
		pvc.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceStorage: gi(volume.sizeGi)}
		pvc.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{
			corev1.ResourceStorage: corev1.PersistentVolumeClaimControllerResizeInfeasible,
		}
		pvc.Status.Conditions = []corev1.PersistentVolumeClaimCondition{{
			Type: corev1.PersistentVolumeClaimControllerResizeError, Status: corev1.ConditionTrue, Message: volume.refused,
		}}
	}
	w.must(w.c.Status().Update(w.ctx, pvc))
}

func (w *world) observation(namespace, cluster string, pod *corev1.Pod, primary bool, volumes []volumeSpec, at time.Time) {
	observation := &v1alpha1.StorageObservation{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: namespace, Labels: map[string]string{"cnpg.io/cluster": cluster}},
		Spec:       v1alpha1.StorageObservationSpec{Cluster: cluster, Instance: pod.Name, PodUID: string(pod.UID)},
	}
	w.must(w.c.Create(w.ctx, observation))
	role := v1alpha1.InstanceReplica
	if primary {
		role = v1alpha1.InstancePrimary
	}
	observedAt := metav1.NewMicroTime(at)
	observation.Status = v1alpha1.StorageObservationStatus{
		ObservedAt: &observedAt,
		Role:       role,
		Postgres:   v1alpha1.PostgresObservation{Reachable: true, Archiving: &v1alpha1.ArchivingObservation{Enabled: true, Healthy: true}},
	}
	for _, volume := range volumes {
		filesystemBytes := int64(float64(volume.capacity()*gibibyte) * filesystemRatio)
		usedBytes := int64(float64(filesystemBytes) * volume.usedPercent / 100)
		volumeRole := v1alpha1.RoleData
		if volume.role == "PG_WAL" {
			volumeRole = v1alpha1.RoleWAL
		}
		observation.Status.Volumes = append(observation.Status.Volumes, v1alpha1.ObservedVolume{
			Name: volume.name, Role: volumeRole, PVC: volume.name, MountPath: "/var/lib/postgresql/" + string(volumeRole),
			CapacityBytes: filesystemBytes, UsedBytes: usedBytes, AvailableBytes: filesystemBytes - usedBytes,
			InodesTotal: 1 << 20, InodesFree: 1 << 19, FillRateBytesPerSecond: 1 << 10,
		})
	}
	w.must(w.c.Status().Update(w.ctx, observation))
}

// policy creates a policy from its spec in YAML, and returns it as saved.
func (w *world) policy(namespace, name, specYAML string) *v1alpha1.StorageAutoscalePolicy {
	saved := &v1alpha1.StorageAutoscalePolicy{}
	lines := strings.Split(strings.Trim(specYAML, "\n"), "\n")
	w.must(yaml.UnmarshalStrict([]byte("spec:\n  "+strings.Join(lines, "\n  ")+"\n"), saved))
	saved.Name, saved.Namespace = name, namespace
	w.must(w.c.Create(w.ctx, saved))
	return saved
}

// report writes the policy status the controller would have written at
// testNow (its rows, sizes, pending growths, budget and conditions), with
// the history given, as the controller's last reconcile.
func (w *world) report(saved *v1alpha1.StorageAutoscalePolicy, history []v1alpha1.GrowthRecord, budget []v1alpha1.BudgetAction) {
	if w.err != nil {
		return
	}
	saved.Status.History, saved.Status.Budget.Actions = history, budget
	view, err := policy.Snapshot(w.ctx, w.c, saved, testNow, policy.SnapshotOptions{ResizeTimeout: policy.DefaultResizeTimeout})
	if err != nil {
		w.must(err)
		return
	}
	result := plan.Plan(view.Plan)
	status := view.Status(view.Plan, result)
	// A fixed transition time: goldens hold condition messages, not times.
	for index := range status.Conditions {
		status.Conditions[index].LastTransitionTime = metav1.NewTime(testNow)
	}
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Reconciled", Message: "the last reconcile succeeded",
	})
	saved.Status = status
	w.must(w.c.Status().Update(w.ctx, saved))
}

func growthRecord(ago time.Duration, role v1alpha1.VolumeRole, fromGi, toGi int64, kind v1alpha1.GrowthKind, trigger string, outcome v1alpha1.GrowthOutcome, message string, pvcs ...string) v1alpha1.GrowthRecord {
	return v1alpha1.GrowthRecord{
		Time: metav1.NewTime(testNow.Add(-ago)), Role: role, PVCs: pvcs, From: gi(fromGi), To: gi(toGi),
		Kind: kind, Trigger: trigger, Outcome: outcome, Message: message,
	}
}

func budgetAction(ago time.Duration, kind v1alpha1.GrowthKind, role v1alpha1.VolumeRole, toGi int64) v1alpha1.BudgetAction {
	return v1alpha1.BudgetAction{Time: metav1.NewTime(testNow.Add(-ago)), Kind: kind, Role: role, To: gi(toGi)}
}

// buildWorld creates, in namespace db:
//
//   - orders: two instances with data and WAL volumes; orders-1's data
//     volume is 85 % full (a planned growth of the data role is due), a WAL
//     growth finished three hours ago;
//   - billing: one instance without a WAL volume, its data volume 90 %
//     full; its growth to its limit was refused by the storage driver.
func buildWorld(ctx context.Context, c client.Client) error {
	w := &world{ctx: ctx, c: c}
	w.namespace("db")
	w.storageClass()
	w.cluster("db", "orders", 2, map[string][]volumeSpec{
		"orders-1": {{name: "orders-1", role: "PG_DATA", sizeGi: 10, usedPercent: 85}, {name: "orders-1-wal", role: "PG_WAL", sizeGi: 2, usedPercent: 40}},
		"orders-2": {{name: "orders-2", role: "PG_DATA", sizeGi: 10, usedPercent: 60}, {name: "orders-2-wal", role: "PG_WAL", sizeGi: 2, usedPercent: 30}},
	}, 20*time.Second)
	orders := w.policy("db", "orders", `
clusterRef: {name: orders}
volumes:
  data: {limit: 20Gi}
  wal: {limit: 4Gi}
`)
	w.report(orders,
		[]v1alpha1.GrowthRecord{
			growthRecord(3*time.Hour, v1alpha1.RoleWAL, 1, 2, v1alpha1.GrowthPlanned, "usedPercent 81 >= 80 on orders-1-wal",
				v1alpha1.OutcomeSucceeded, "", "orders-1-wal", "orders-2-wal"),
		},
		[]v1alpha1.BudgetAction{budgetAction(3*time.Hour, v1alpha1.GrowthPlanned, v1alpha1.RoleWAL, 2)})

	w.cluster("db", "billing", 0, map[string][]volumeSpec{
		"billing-1": {{name: "billing-1", role: "PG_DATA", sizeGi: 5, usedPercent: 90, capacityGi: 4, refused: "disk quota exceeded"}},
	}, 15*time.Second)
	billing := w.policy("db", "billing", `
clusterRef: {name: billing}
walSafety: {acknowledgeSingleVolume: true}
volumes:
  data: {limit: 5Gi}
`)
	w.report(billing,
		[]v1alpha1.GrowthRecord{
			growthRecord(26*time.Hour, v1alpha1.RoleData, 3, 4, v1alpha1.GrowthPlanned, "usedPercent 82 >= 80 on billing-1",
				v1alpha1.OutcomeSucceeded, "", "billing-1"),
			growthRecord(2*time.Hour, v1alpha1.RoleData, 4, 5, v1alpha1.GrowthPlanned, "usedPercent 83 >= 80 on billing-1",
				v1alpha1.OutcomeInProgress, "", "billing-1"),
		},
		[]v1alpha1.BudgetAction{budgetAction(2*time.Hour, v1alpha1.GrowthPlanned, v1alpha1.RoleData, 5)})
	return w.err
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
