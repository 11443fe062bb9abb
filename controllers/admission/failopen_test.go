package admission

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// With the webhook server stopped, CNPG can still create its pods and PVCs
// (failurePolicy: Ignore): unchanged, and reported later as SidecarMissing.
// The server then comes back serving from the Secret's files alone, as in
// --cert-manager mode (no rotator), and injects again.
func TestPodAndPVCCreationSucceedWhileTheWebhookServerIsStopped(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	ns := newNamespace(t, nil)
	shape := clusterShape{}
	must(t, c.Create(ctx, newCluster(ns, "orders", shape)))
	policy := newPolicy(ns, "orders", "orders", shape)
	must(t, c.Create(ctx, policy))
	policy.Status.EffectiveSizes.Data = ptr.To(resource.MustParse("3Gi"))
	must(t, c.Status().Update(ctx, policy))

	harness.stop()
	// Whatever happens, the other tests get the server back, rotator included.
	defer func() {
		harness.stop()
		if err := harness.start(false); err != nil {
			t.Fatalf("restart the webhook server with its rotator: %v", err)
		}
	}()

	pod := instancePod(t, newCluster(ns, "orders", shape))
	must(t, c.Create(ctx, pod))
	if got := getPod(t, ns, pod.Name); hasSidecar(got) || len(got.Spec.InitContainers) != 1 {
		t.Errorf("pod created while the server was stopped has init containers %v", containerNames(got.Spec.InitContainers))
	}
	pvc := cnpgPVC(ns, "orders-2", map[string]string{clusterLabel: "orders", pvcRoleLabel: pvcRoleData}, "1Gi")
	must(t, c.Create(ctx, pvc))
	if got := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != "1Gi" {
		t.Errorf("PVC created while the server was stopped requests %s", got.String())
	}
	if missing := SidecarMissing(listInstancePods(t, ns)); len(missing) != 1 || missing[0] != pod.Name {
		t.Errorf("SidecarMissing %v, want [%s]", missing, pod.Name)
	}

	if err := harness.start(true); err != nil {
		t.Fatalf("restart the webhook server in cert-manager mode: %v", err)
	}
	second := instancePod(t, newCluster(ns, "orders", shape))
	second.Name = "orders-2"
	must(t, c.Create(ctx, second))
	if got := getPod(t, ns, second.Name); !hasSidecar(got) {
		t.Errorf("the restarted server did not inject: %v", containerNames(got.Spec.InitContainers))
	}
}

func listInstancePods(t *testing.T, namespace string) []corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	must(t, env.Client.List(context.Background(), &pods, clientInNamespace(namespace)))
	return pods.Items
}
