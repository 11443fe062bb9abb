package restarts

import (
	"context"
	"testing"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv/cnpgtest"
)

// A pod that predates its policy has no sidecar; with restartExisting the
// running controller asks CNPG for one rolling restart, and not again
// within the hour.
func TestRestartExistingAsksCNPGForOneRollingRestart(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	ns := env.NewNamespace(t, nil)
	shape := cnpgtest.Shape{}
	cluster := cnpgtest.NewCluster(ns, "orders", shape)
	must(t, c.Create(ctx, cluster))
	cluster.Status.Phase = cnpgv1.PhaseHealthy
	must(t, c.Status().Update(ctx, cluster))

	pod := cnpgtest.InstancePod(t, cluster)
	must(t, c.Create(ctx, pod)) // before the policy: admitted without the sidecar
	if missing := SidecarMissing(listInstancePods(t, ns)); len(missing) != 1 || missing[0] != pod.Name {
		t.Fatalf("SidecarMissing %v, want [%s]", missing, pod.Name)
	}

	policy := cnpgtest.NewPolicy(ns, "orders", "orders", shape)
	policy.Spec.Injection.RestartExisting = true
	must(t, c.Create(ctx, policy))

	key := client.ObjectKeyFromObject(cluster)
	testenv.WaitFor(t, "the restart annotation on the Cluster", func() bool {
		must(t, c.Get(ctx, key, cluster))
		return cluster.Annotations[ClusterRestartAnnotation] != ""
	})
	if cluster.Annotations[LastRestartAnnotation] != cluster.Annotations[ClusterRestartAnnotation] {
		t.Errorf("annotations %v: last-restart must record the restart", cluster.Annotations)
	}
	restartedAt, err := time.Parse(time.RFC3339, cluster.Annotations[ClusterRestartAnnotation])
	must(t, err)
	version := cluster.ResourceVersion

	// Reconcile again, as any event would, half an hour later: nothing.
	r := &reconciler{client: c, now: func() time.Time { return restartedAt.Add(30 * time.Minute) }}
	req := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(policy)}
	res, err := r.Reconcile(ctx, req)
	must(t, err)
	must(t, c.Get(ctx, key, cluster))
	if cluster.ResourceVersion != version {
		t.Errorf("a second restart within the hour: %v", cluster.Annotations)
	}
	if res.RequeueAfter != 30*time.Minute {
		t.Errorf("requeue after %s, want the 30 minutes left in the hour", res.RequeueAfter)
	}

	// An hour on, the pod still lacks the sidecar (no CNPG operator here to
	// roll it): one more request is allowed.
	r.now = func() time.Time { return restartedAt.Add(61 * time.Minute) }
	_, err = r.Reconcile(ctx, req)
	must(t, err)
	must(t, c.Get(ctx, key, cluster))
	if want := restartedAt.Add(61 * time.Minute).UTC().Format(time.RFC3339); cluster.Annotations[ClusterRestartAnnotation] != want {
		t.Errorf("restartedAt %q, want %q", cluster.Annotations[ClusterRestartAnnotation], want)
	}
}

func listInstancePods(t *testing.T, namespace string) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	must(t, env.Client.List(context.Background(), &pods, client.InNamespace(namespace)))
	return pods.Items
}
