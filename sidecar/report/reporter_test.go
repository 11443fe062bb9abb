package report_test

import (
	"context"
	"net/url"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/decide"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/report"
)

// These tests write to a real kube-apiserver (envtest, the project's own
// binaries) and read back what it stored.

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, &env))
}

const mib = 1 << 20

var t0 = time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)

// newPod creates a namespace and a pod in it, the owner of the observation.
func newPod(t *testing.T) report.Identity {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "report-"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-1", Namespace: ns.Name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "postgres", Image: "postgres"}}},
	}
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	return report.Identity{PodName: pod.Name, Namespace: ns.Name, PodUID: string(pod.UID), Cluster: "orders"}
}

func observed(at time.Time, usedBytes int64) *v1alpha1.StorageObservationStatus {
	ts := metav1.NewMicroTime(at)
	return &v1alpha1.StorageObservationStatus{
		ObservedAt: &ts,
		Role:       v1alpha1.InstancePrimary,
		Volumes: []v1alpha1.ObservedVolume{{
			Name: "pgdata", Role: v1alpha1.RoleData, PVC: "orders-1", MountPath: "/var/lib/postgresql/data",
			CapacityBytes: 10 << 30, UsedBytes: usedBytes, AvailableBytes: 10<<30 - usedBytes,
		}},
		Postgres: v1alpha1.PostgresObservation{Reachable: true},
	}
}

func get(t *testing.T, id report.Identity) *v1alpha1.StorageObservation {
	t.Helper()
	obs := &v1alpha1.StorageObservation{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: id.Namespace, Name: id.PodName}, obs); err != nil {
		t.Fatalf("get observation: %v", err)
	}
	return obs
}

// newReporter writes through the sidecar's own client; the tests read back
// through controller-runtime's, an independent path to the same API server.
func newReporter(t *testing.T, cfg *rest.Config, id report.Identity) *report.Reporter {
	t.Helper()
	r, err := report.New(cfg, id, decide.Cadence{Heartbeat: time.Minute, Moves: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustReport(t *testing.T, r *report.Reporter, status *v1alpha1.StorageObservationStatus, now time.Time, want report.Outcome) {
	t.Helper()
	got, reason, err := r.Report(context.Background(), status, now)
	if got != want {
		t.Fatalf("Report at %s = %s (%s, err %v), want %s", now.Sub(t0), got, reason, err, want)
	}
	if (err != nil) != (want == report.Failed) {
		t.Fatalf("Report at %s: outcome %s with error %v", now.Sub(t0), got, err)
	}
}

func TestObservationIsCreatedOwnedByThePodAndUpdatedOnlyOnChange(t *testing.T) {
	id := newPod(t)
	r := newReporter(t, env.Config, id)

	mustReport(t, r, observed(t0, 100*mib), t0, report.Written)
	obs := get(t, id)
	if obs.Spec != (v1alpha1.StorageObservationSpec{Cluster: "orders", Instance: id.PodName, PodUID: id.PodUID}) {
		t.Errorf("spec %+v does not name the pod", obs.Spec)
	}
	if len(obs.OwnerReferences) != 1 || obs.OwnerReferences[0].Kind != "Pod" ||
		string(obs.OwnerReferences[0].UID) != id.PodUID || obs.OwnerReferences[0].APIVersion != "v1" {
		t.Errorf("owner references %+v, want the pod", obs.OwnerReferences)
	}
	if len(obs.Status.Volumes) != 1 || obs.Status.Volumes[0].UsedBytes != 100*mib {
		t.Fatalf("status not stored: %+v", obs.Status)
	}
	created := obs.ResourceVersion

	// 10 MiB more on a 10 GiB volume is under both thresholds: no write.
	for i := 1; i <= 5; i++ {
		now := t0.Add(time.Duration(i) * 10 * time.Second)
		mustReport(t, r, observed(now, 110*mib), now, report.Unchanged)
	}
	if rv := get(t, id).ResourceVersion; rv != created {
		t.Fatalf("observation written without a meaningful change (resourceVersion %s -> %s)", created, rv)
	}

	// 0.5% of 10 GiB is 51.2 MiB: 160 MiB is a meaningful move.
	mustReport(t, r, observed(t0.Add(55*time.Second), 160*mib), t0.Add(55*time.Second), report.Written)
	obs = get(t, id)
	if obs.ResourceVersion == created || obs.Status.Volumes[0].UsedBytes != 160*mib {
		t.Fatalf("meaningful change not written: rv %s used %d", obs.ResourceVersion, obs.Status.Volumes[0].UsedBytes)
	}
	changed := obs.ResourceVersion

	// The heartbeat counts from the last write (55 s): due at 115 s.
	mustReport(t, r, observed(t0.Add(114*time.Second), 160*mib), t0.Add(114*time.Second), report.Unchanged)
	mustReport(t, r, observed(t0.Add(115*time.Second), 160*mib), t0.Add(115*time.Second), report.Written)
	obs = get(t, id)
	if obs.ResourceVersion == changed || !obs.Status.ObservedAt.Time.Equal(t0.Add(115*time.Second)) {
		t.Fatalf("heartbeat not written: rv %s observedAt %v", obs.ResourceVersion, obs.Status.ObservedAt)
	}
}

func TestAConflictIsRetriedAndKeepsTheOtherWritersChange(t *testing.T) {
	id := newPod(t)
	r := newReporter(t, env.Config, id)
	mustReport(t, r, observed(t0, 100*mib), t0, report.Written)

	// Another writer changes the object: the reporter's copy is now stale.
	obs := get(t, id)
	obs.Labels["example.com/touched"] = "yes"
	if err := env.Client.Update(context.Background(), obs); err != nil {
		t.Fatal(err)
	}

	mustReport(t, r, observed(t0.Add(time.Second), 900*mib), t0.Add(time.Second), report.Written)
	obs = get(t, id)
	if obs.Status.Volumes[0].UsedBytes != 900*mib {
		t.Errorf("status after the conflict: used %d, want %d", obs.Status.Volumes[0].UsedBytes, 900*mib)
	}
	if obs.Labels["example.com/touched"] != "yes" {
		t.Errorf("the other writer's label was lost: %v", obs.Labels)
	}
}

func TestAnAPIServerOutageIsRetriedWithBackoff(t *testing.T) {
	id := newPod(t)
	apiserver, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, apiserver.Host)
	cfg := rest.CopyConfig(env.Config)
	cfg.Host = "https://" + proxy.addr
	r := newReporter(t, cfg, id)
	mustReport(t, r, observed(t0, 100*mib), t0, report.Written)

	proxy.down()
	mustReport(t, r, observed(t0.Add(10*time.Second), 2000*mib), t0.Add(10*time.Second), report.Failed)
	attempts := proxy.connections()
	// Within the first backoff (1 s) the reporter does not even try.
	mustReport(t, r, observed(t0.Add(10500*time.Millisecond), 2000*mib), t0.Add(10500*time.Millisecond), report.BackingOff)
	// Still down at 11 s: fails again and doubles the wait to 2 s.
	mustReport(t, r, observed(t0.Add(11*time.Second), 2000*mib), t0.Add(11*time.Second), report.Failed)
	mustReport(t, r, observed(t0.Add(12500*time.Millisecond), 2000*mib), t0.Add(12500*time.Millisecond), report.BackingOff)
	if proxy.connections() != attempts {
		t.Fatalf("the proxy is down, yet it accepted %d connections", proxy.connections()-attempts)
	}

	proxy.up()
	mustReport(t, r, observed(t0.Add(13*time.Second), 2000*mib), t0.Add(13*time.Second), report.Written)
	if used := get(t, id).Status.Volumes[0].UsedBytes; used != 2000*mib {
		t.Fatalf("after the outage the API server holds used %d, want %d", used, 2000*mib)
	}
	if proxy.connections() == attempts {
		t.Fatal("the write after the outage did not go through the proxy")
	}
}

func TestAnObservationLeftByAPreviousPodOfTheSameNameIsReplaced(t *testing.T) {
	id := newPod(t)
	stale := &v1alpha1.StorageObservation{
		ObjectMeta: metav1.ObjectMeta{Name: id.PodName, Namespace: id.Namespace},
		Spec:       v1alpha1.StorageObservationSpec{Cluster: "orders", Instance: id.PodName, PodUID: "uid-of-the-previous-pod"},
	}
	if err := env.Client.Create(context.Background(), stale); err != nil {
		t.Fatal(err)
	}
	r := newReporter(t, env.Config, id)
	mustReport(t, r, observed(t0, 100*mib), t0, report.Written)
	obs := get(t, id)
	if obs.Spec.PodUID != id.PodUID || obs.UID == stale.UID {
		t.Fatalf("observation still belongs to %s (uid %s)", obs.Spec.PodUID, obs.UID)
	}
}

func TestARestartedSidecarAdoptsItsOwnObservation(t *testing.T) {
	id := newPod(t)
	mustReport(t, newReporter(t, env.Config, id), observed(t0, 100*mib), t0, report.Written)
	first := get(t, id)
	mustReport(t, newReporter(t, env.Config, id), observed(t0.Add(time.Minute), 200*mib), t0.Add(time.Minute), report.Written)
	second := get(t, id)
	if second.UID != first.UID || second.Status.Volumes[0].UsedBytes != 200*mib {
		t.Fatalf("restarted sidecar did not update its own observation (uid %s -> %s)", first.UID, second.UID)
	}
}
