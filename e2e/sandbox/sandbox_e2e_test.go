//go:build e2e

package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/admission"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/sandbox"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/sandbox/csidriver"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/repo"
)

// These tests bring the sandbox up (or reuse a healthy one), prove that it
// behaves as a real cluster does, and bring it down again, proving that
// nothing is left behind. Run with `make e2e-sandbox` (root).

var (
	sb      *sandbox.Sandbox
	cluster *framework.Cluster
	pgImage string
)

func TestMain(m *testing.M) {
	os.Exit(runWithSandbox(m))
}

func runWithSandbox(m *testing.M) int {
	ctx := context.Background()
	root, err := repo.Root()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	layout := sandbox.DefaultLayout(root)
	if sb, err = sandbox.New(layout, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := sb.Up(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox up:", err)
		_ = sb.Down(ctx)
		return 1
	}
	if cluster, err = framework.Connect(layout.Kubeconfig()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if pgImage, err = sb.PostgresImage(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if os.Getenv("SANDBOX_KEEP") == "1" {
		fmt.Println("SANDBOX_KEEP=1: leaving the sandbox up")
		return code
	}
	// Down ends by checking that no mount, loop device, process, interface,
	// iptables chain or directory of the sandbox is left: its failure fails
	// the run.
	if err := sb.Down(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox down left something behind:", err)
		return 1
	}
	return code
}

func TestCNPGClusterWithAStreamingReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ns := namespace(t, "sandbox-cnpg")
	primary := readyCluster(ctx, t, ns, "pair", 2)
	err := framework.Eventually(ctx, "a streaming replica", time.Minute, 2*time.Second, func(ctx context.Context) error {
		out, err := cluster.PSQL(ctx, ns, primary, "select count(*) from pg_stat_replication where state = 'streaming'")
		if err != nil {
			return err
		}
		if out != "1" {
			return fmt.Errorf("%s streaming replicas", out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The fill mechanism that the demo and the E2E suite use: real INSERTs,
	// and for WAL, INSERTs while a slot holds the WAL back.
	for _, volume := range []string{"data", "wal"} {
		err := cluster.Fill(ctx, framework.FillSpec{
			Namespace: ns, Pod: primary, Volume: volume, RateBytesPerSecond: 16 << 20, UntilPercent: 60,
		}, testWriter{t})
		if err != nil {
			t.Fatalf("fill %s: %v", volume, err)
		}
		usage, err := cluster.VolumeUsage(ctx, ns, primary, volume)
		if err != nil {
			t.Fatal(err)
		}
		if usage.UsedPercent() < 60 {
			t.Fatalf("%s volume at %.1f%% after the fill, want at least 60%%", volume, usage.UsedPercent())
		}
	}
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestOnlineGrowthReachesTheFilesystemInThePod(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	ns := namespace(t, "sandbox-online")
	pvc, pod := podWithVolume(ctx, t, ns, sandbox.ClassOnline, nil)

	grow(ctx, t, pvc, "2Gi")
	// kubelet grows a mounted filesystem at its next sync of the pod: up to
	// 90 s, as on any node.
	waitCapacity(ctx, t, pvc, "2Gi", 3*time.Minute)
	waitFilesystemAtLeast(ctx, t, ns, pod, 1900<<20, 3*time.Minute)
}

func TestOfflineGrowthWaitsForThePodToGo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	ns := namespace(t, "sandbox-offline")
	pvc, pod := podWithVolume(ctx, t, ns, sandbox.ClassOffline, nil)

	grow(ctx, t, pvc, "2Gi")
	waitPVCCondition(ctx, t, pvc, corev1.PersistentVolumeClaimFileSystemResizePending, "", 2*time.Minute)
	// It stays pending while the pod runs: the filesystem cannot grow
	// online. Updating the pod makes kubelet sync it (and try NodeExpand-
	// Volume) now rather than within 90 s, so the wait below proves it.
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"sandbox.pgstorage.io/sync":"now"}}}`))
	if err := cluster.Client.Patch(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns}}, patch); err != nil {
		t.Fatal(err)
	}
	waitDriverLog(ctx, t, volumeID(ctx, t, pvc)+" is ext4, which grows offline only", time.Minute)
	waitPVCCondition(ctx, t, pvc, corev1.PersistentVolumeClaimFileSystemResizePending, "", time.Second)
	if size := filesystemBytes(ctx, t, ns, pod); size > 1100<<20 {
		t.Fatalf("ext4 filesystem grew to %d bytes while mounted", size)
	}

	if err := cluster.Client.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns}}); err != nil {
		t.Fatal(err)
	}
	waitGone(ctx, t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns}})
	// Only an unstaged volume grows offline: a pod started before kubelet
	// unstaged it would find the old filesystem mounted again.
	waitDriverLog(ctx, t, "method=/csi.v1.Node/NodeUnstageVolume volume="+volumeID(ctx, t, pvc), time.Minute)
	pod = startPod(ctx, t, ns, pvc.Name)
	waitCapacity(ctx, t, pvc, "2Gi", 2*time.Minute)
	waitFilesystemAtLeast(ctx, t, ns, pod, 1900<<20, time.Minute)
}

func TestInjectedResizeFaultsShowAsTheResizersConditions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns := namespace(t, "sandbox-faults")

	infeasible, _ := podWithVolume(ctx, t, ns, sandbox.ClassOnline,
		map[string]string{csidriver.FaultAnnotation: csidriver.FaultInfeasible})
	grow(ctx, t, infeasible, "2Gi")
	waitPVCCondition(ctx, t, infeasible, corev1.PersistentVolumeClaimControllerResizeError,
		"cannot be expanded", 2*time.Minute)
	waitEvent(ctx, t, ns, infeasible.Name, "cannot be expanded", time.Minute)

	// A stuck expansion is what the resizer sees as a timeout: no final
	// error, so it keeps retrying and the PVC stays in
	// ControllerResizeInProgress with VolumeResizeFailed events. Noticing
	// that it is stuck is the add-on's job (ResizeFailed after a timeout).
	stuck, _ := podWithVolume(ctx, t, ns, sandbox.ClassOnline,
		map[string]string{csidriver.FaultAnnotation: csidriver.FaultStuck})
	grow(ctx, t, stuck, "2Gi")
	waitEvent(ctx, t, ns, stuck.Name, "code = DeadlineExceeded", time.Minute)
	current := &corev1.PersistentVolumeClaim{}
	if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(stuck), current); err != nil {
		t.Fatal(err)
	}
	if got := current.Status.AllocatedResourceStatuses[corev1.ResourceStorage]; got != corev1.PersistentVolumeClaimControllerResizeInProgress {
		t.Fatalf("a stuck resize shows allocatedResourceStatuses %q, want %q", got, corev1.PersistentVolumeClaimControllerResizeInProgress)
	}
	if got := current.Status.Capacity.Storage(); got.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Fatalf("a stuck resize changed the capacity to %s", got)
	}

	slow, _ := podWithVolume(ctx, t, ns, sandbox.ClassOnline,
		map[string]string{csidriver.FaultAnnotationLatency: "5s"})
	start := time.Now()
	grow(ctx, t, slow, "2Gi")
	waitPVResized(ctx, t, slow, "2Gi", 2*time.Minute)
	if elapsed := time.Since(start); elapsed < 5*time.Second {
		t.Fatalf("a resize with 5s latency finished after %s", elapsed)
	}
}

func TestFixedClassRefusesGrowth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := namespace(t, "sandbox-fixed")
	pvc, _ := podWithVolume(ctx, t, ns, sandbox.ClassFixed, nil)
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}`))
	err := cluster.Client.Patch(ctx, pvc, patch)
	if err == nil || !strings.Contains(err.Error(), "storageclass that provisions the pvc must support resize") {
		t.Fatalf("growing a PVC of %s: got %v, want the API server's refusal", sandbox.ClassFixed, err)
	}
}

// The add-on, installed by `up` with its Helm chart next to the stock
// operator: the sidecar is injected, CNPG does not roll the pod for it, the
// sidecar reaches PostgreSQL as cnpg_metrics_exporter through the socket, and
// a volume over its trigger grows end to end, down to df in the pod.
func TestAddonInjectsWithoutRolloutAndGrowsAVolume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	ns := namespace(t, "sandbox-addon")
	limit := resource.MustParse("4Gi")
	policy := &v1alpha1.StorageAutoscalePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "solo", Namespace: ns},
		Spec: v1alpha1.StorageAutoscalePolicySpec{
			ClusterRef: v1alpha1.ClusterReference{Name: "solo"},
			Volumes: v1alpha1.VolumesSpec{
				Data: v1alpha1.VolumePolicy{Limit: &limit, Trigger: v1alpha1.Trigger{UsedPercent: 60}},
				WAL:  &v1alpha1.VolumePolicy{Limit: &limit},
			},
		},
	}
	policy.Spec.Default()
	if err := cluster.Client.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	primary := readyCluster(ctx, t, ns, "solo", 1)
	pod := &corev1.Pod{}
	if err := cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: primary}, pod); err != nil {
		t.Fatal(err)
	}
	injected := false
	for _, c := range pod.Spec.InitContainers {
		if c.Name == admission.SidecarName && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			injected = true
		}
	}
	if !injected {
		t.Fatalf("pod %s has no native sidecar %s: init containers %v", primary, admission.SidecarName, pod.Spec.InitContainers)
	}

	// The sidecar's observation: disk figures, and PostgreSQL reached as
	// cnpg_metrics_exporter over the socket.
	obs := &v1alpha1.StorageObservation{}
	err := framework.Eventually(ctx, "an observation from the sidecar with PostgreSQL reachable", 2*time.Minute, 2*time.Second,
		func(ctx context.Context) error {
			if err := cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: primary}, obs); err != nil {
				return err
			}
			if len(obs.Status.Volumes) != 2 || !obs.Status.Postgres.Reachable {
				return fmt.Errorf("%d volumes, postgres reachable %v (%s), error %q", len(obs.Status.Volumes),
					obs.Status.Postgres.Reachable, obs.Status.Postgres.Reason, obs.Status.Error)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}

	// CNPG must not roll the pod because a container was added: watch it
	// through several of the operator's reconciles.
	time.Sleep(45 * time.Second)
	current := &corev1.Pod{}
	if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(pod), current); err != nil {
		t.Fatalf("pod %s is gone: CNPG rolled it out", primary)
	}
	if current.UID != pod.UID {
		t.Fatalf("pod %s was re-created by CNPG (uid %s, was %s)", primary, current.UID, pod.UID)
	}

	// Fill the data volume over the policy's trigger: the add-on grows it.
	if err := cluster.Fill(ctx, framework.FillSpec{
		Namespace: ns, Pod: primary, Volume: "data", RateBytesPerSecond: 16 << 20, UntilPercent: 65,
	}, testWriter{t}); err != nil {
		t.Fatal(err)
	}
	data := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: primary}}
	err = framework.Eventually(ctx, "the add-on to grow the data PVC", 3*time.Minute, 2*time.Second, func(ctx context.Context) error {
		if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(data), data); err != nil {
			return err
		}
		if data.Spec.Resources.Requests.Storage().Cmp(resource.MustParse("1Gi")) <= 0 {
			p := &v1alpha1.StorageAutoscalePolicy{}
			_ = cluster.Client.Get(ctx, client.ObjectKeyFromObject(policy), p)
			return fmt.Errorf("request still %s; policy state %q rows %+v", data.Spec.Resources.Requests.Storage(), p.Status.State, p.Status.Volumes)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	grownTo := data.Spec.Resources.Requests.Storage().DeepCopy()
	waitCapacity(ctx, t, data, grownTo.String(), 3*time.Minute)
	err = framework.Eventually(ctx, "df in the pod to show the grown filesystem", 3*time.Minute, 2*time.Second, func(ctx context.Context) error {
		usage, err := cluster.VolumeUsage(ctx, ns, primary, "data")
		if err != nil {
			return err
		}
		if usage.SizeBytes < 1500<<20 {
			return fmt.Errorf("df shows %d MiB", usage.SizeBytes>>20)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// --- helpers: each reads like a step of the scenario ---

// readyCluster creates a CNPG Cluster with 1Gi data and WAL volumes on the
// online class, waits until it is ready and returns its primary pod.
func readyCluster(ctx context.Context, t *testing.T, ns, name string, instances int) string {
	t.Helper()
	pg := framework.NewCluster(framework.ClusterSpec{
		Name: name, Namespace: ns, Instances: instances, Image: pgImage,
		StorageClass: sandbox.ClassOnline, DataSize: "1Gi", WALSize: "1Gi",
	})
	if err := cluster.Client.Create(ctx, pg); err != nil {
		t.Fatal(err)
	}
	if err := cluster.WaitClusterReady(ctx, pg, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	primary, err := cluster.PrimaryPod(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	return primary
}

func namespace(t *testing.T, prefix string) string {
	t.Helper()
	ns, err := cluster.CreateNamespace(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dump(t, ns)
		}
		_ = cluster.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	})
	return ns
}

func podWithVolume(ctx context.Context, t *testing.T, ns, class string, annotations map[string]string) (*corev1.PersistentVolumeClaim, string) {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "vol-", Namespace: ns, Annotations: annotations},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if err := cluster.Client.Create(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	pod := startPod(ctx, t, ns, pvc.Name)
	waitCapacity(ctx, t, pvc, "1Gi", 2*time.Minute)
	return pvc, pod
}

// startPod runs a pod that mounts the claim at /data as uid 26 with fsGroup
// 26, the way CNPG runs PostgreSQL, and waits until it runs.
func startPod(ctx context.Context, t *testing.T, ns, claim string) string {
	t.Helper()
	uid := int64(26)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "user-", Namespace: ns},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid},
			Containers: []corev1.Container{{
				Name: "postgres", Image: pgImage, ImagePullPolicy: corev1.PullNever,
				Command:      []string{"sleep", "infinity"},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			TerminationGracePeriodSeconds: new(int64),
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}},
		},
	}
	if err := cluster.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	err := framework.Eventually(ctx, "pod "+pod.Name+" running", 2*time.Minute, time.Second, func(ctx context.Context) error {
		current := &corev1.Pod{}
		if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(pod), current); err != nil {
			return err
		}
		if current.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("phase %s", current.Status.Phase)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// fsGroup: uid 26 can write to the volume's root.
	if _, err := cluster.Exec(ctx, ns, pod.Name, "postgres", "touch", "/data/written-by-26"); err != nil {
		t.Fatalf("uid 26 cannot write to the volume: %v", err)
	}
	return pod.Name
}

func grow(ctx context.Context, t *testing.T, pvc *corev1.PersistentVolumeClaim, size string) {
	t.Helper()
	patch := client.RawPatch("application/merge-patch+json",
		[]byte(fmt.Sprintf(`{"spec":{"resources":{"requests":{"storage":%q}}}}`, size)))
	if err := cluster.Client.Patch(ctx, pvc, patch); err != nil {
		t.Fatalf("grow %s to %s: %v", pvc.Name, size, err)
	}
}

func waitCapacity(ctx context.Context, t *testing.T, pvc *corev1.PersistentVolumeClaim, size string, timeout time.Duration) {
	t.Helper()
	want := resource.MustParse(size)
	err := framework.Eventually(ctx, fmt.Sprintf("PVC %s capacity %s", pvc.Name, size), timeout, time.Second,
		func(ctx context.Context) error {
			current := &corev1.PersistentVolumeClaim{}
			if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(pvc), current); err != nil {
				return err
			}
			got := current.Status.Capacity.Storage()
			if got.Cmp(want) < 0 {
				return fmt.Errorf("capacity %s, conditions %v, allocatedResourceStatuses %v",
					got, current.Status.Conditions, current.Status.AllocatedResourceStatuses)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

func waitPVResized(ctx context.Context, t *testing.T, pvc *corev1.PersistentVolumeClaim, size string, timeout time.Duration) {
	t.Helper()
	want := resource.MustParse(size)
	err := framework.Eventually(ctx, fmt.Sprintf("PV of %s at %s", pvc.Name, size), timeout, time.Second,
		func(ctx context.Context) error {
			current := &corev1.PersistentVolumeClaim{}
			if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(pvc), current); err != nil {
				return err
			}
			pv := &corev1.PersistentVolume{}
			if err := cluster.Client.Get(ctx, client.ObjectKey{Name: current.Spec.VolumeName}, pv); err != nil {
				return err
			}
			if got := pv.Spec.Capacity.Storage(); got.Cmp(want) < 0 {
				return fmt.Errorf("PV capacity %s", got)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

func waitPVCCondition(ctx context.Context, t *testing.T, pvc *corev1.PersistentVolumeClaim,
	condition corev1.PersistentVolumeClaimConditionType, messagePart string, timeout time.Duration) {
	t.Helper()
	err := framework.Eventually(ctx, fmt.Sprintf("PVC %s condition %s", pvc.Name, condition), timeout, time.Second,
		func(ctx context.Context) error {
			current := &corev1.PersistentVolumeClaim{}
			if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(pvc), current); err != nil {
				return err
			}
			for _, c := range current.Status.Conditions {
				if c.Type == condition && c.Status == corev1.ConditionTrue && strings.Contains(c.Message, messagePart) {
					return nil
				}
			}
			return fmt.Errorf("conditions %+v", current.Status.Conditions)
		})
	if err != nil {
		t.Fatal(err)
	}
}

func waitEvent(ctx context.Context, t *testing.T, ns, object, messagePart string, timeout time.Duration) {
	t.Helper()
	err := framework.Eventually(ctx, fmt.Sprintf("an event on %s saying %q", object, messagePart), timeout, time.Second,
		func(ctx context.Context) error {
			events := &corev1.EventList{}
			if err := cluster.Client.List(ctx, events, client.InNamespace(ns)); err != nil {
				return err
			}
			for _, e := range events.Items {
				if e.InvolvedObject.Name == object && strings.Contains(e.Message, messagePart) {
					return nil
				}
			}
			return fmt.Errorf("%d events, none matching", len(events.Items))
		})
	if err != nil {
		t.Fatal(err)
	}
}

// waitDriverLog waits until the CSI driver logged a line containing text:
// proof that kubelet called it, which no API object records.
func waitDriverLog(ctx context.Context, t *testing.T, text string, timeout time.Duration) {
	t.Helper()
	err := framework.Eventually(ctx, "the CSI driver to log "+text, timeout, time.Second, func(context.Context) error {
		data, err := os.ReadFile(sb.Layout().LogFile("csi-driver"))
		if err != nil {
			return err
		}
		if !strings.Contains(string(data), text) {
			return fmt.Errorf("not logged yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func volumeID(ctx context.Context, t *testing.T, pvc *corev1.PersistentVolumeClaim) string {
	t.Helper()
	current := &corev1.PersistentVolumeClaim{}
	if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(pvc), current); err != nil {
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{}
	if err := cluster.Client.Get(ctx, client.ObjectKey{Name: current.Spec.VolumeName}, pv); err != nil {
		t.Fatal(err)
	}
	return pv.Spec.CSI.VolumeHandle
}

func waitGone(ctx context.Context, t *testing.T, obj client.Object) {
	t.Helper()
	err := framework.Eventually(ctx, obj.GetName()+" gone", 2*time.Minute, time.Second, func(ctx context.Context) error {
		if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err == nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// filesystemBytes is the size of the filesystem at /data as df sees it
// inside the container.
func filesystemBytes(ctx context.Context, t *testing.T, ns, pod string) int64 {
	t.Helper()
	out, err := cluster.Exec(ctx, ns, pod, "postgres", "df", "--output=size", "-B1", "/data")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(out)
	size, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
	if err != nil {
		t.Fatalf("df output %q: %v", out, err)
	}
	return size
}

func waitFilesystemAtLeast(ctx context.Context, t *testing.T, ns, pod string, bytes int64, timeout time.Duration) {
	t.Helper()
	err := framework.Eventually(ctx, fmt.Sprintf("df in %s to show at least %d bytes", pod, bytes), timeout, 2*time.Second,
		func(ctx context.Context) error {
			if size := filesystemBytes(ctx, t, ns, pod); size < bytes {
				return fmt.Errorf("df shows %d bytes", size)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

func dump(t *testing.T, ns string) {
	ctx := context.Background()
	pvcs := &corev1.PersistentVolumeClaimList{}
	_ = cluster.Client.List(ctx, pvcs, client.InNamespace(ns))
	for _, p := range pvcs.Items {
		t.Logf("PVC %s: request %s capacity %s conditions %+v statuses %v", p.Name,
			p.Spec.Resources.Requests.Storage(), p.Status.Capacity.Storage(), p.Status.Conditions, p.Status.AllocatedResourceStatuses)
	}
	events := &corev1.EventList{}
	_ = cluster.Client.List(ctx, events, client.InNamespace(ns))
	for _, e := range events.Items {
		t.Logf("event %s %s: %s", e.InvolvedObject.Name, e.Reason, e.Message)
	}
}

// TestUpBringsTheChartsCRDsUpToDate: Helm installs a chart's crds/ only
// with the release, never on upgrade, so a sandbox that stayed up while
// the API gained a field kept the old schema, and the API server pruned
// the field from every write (recentFillRateBytesPerSecond, issue #21: a
// bench ran without it). `up` applies the chart's CRDs itself.
func TestUpBringsTheChartsCRDsUpToDate(t *testing.T) {
	ctx := context.Background()
	const (
		crd      = "storageobservations.pgstorage.io"
		property = "/spec/versions/0/schema/openAPIV3Schema/properties/status/properties/volumes/items/properties/recentFillRateBytesPerSecond"
	)
	propertyType := func() (string, error) {
		out, err := kubectl(ctx, "get", "crd", crd, "-o", "jsonpath={.spec.versions[0].schema.openAPIV3Schema.properties.status.properties.volumes.items.properties.recentFillRateBytesPerSecond.type}")
		return strings.TrimSpace(out), err
	}
	// An older schema, as a sandbox up since before the field has.
	if before, _ := propertyType(); before != "" {
		if out, err := kubectl(ctx, "patch", "crd", crd, "--type=json", `-p=[{"op":"remove","path":"`+property+`"}]`); err != nil {
			t.Fatalf("remove %s from the live CRD: %v\n%s", property, err, out)
		}
	}
	if err := sb.Up(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := propertyType()
	if err != nil || out != "integer" {
		t.Fatalf("after up, %s's recentFillRateBytesPerSecond is %q (%v), want the chart's integer", crd, out, err)
	}
}

func kubectl(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, sb.Kubectl(), append([]string{"--kubeconfig", sb.Layout().Kubeconfig()}, args...)...).CombinedOutput()
	return string(out), err
}
