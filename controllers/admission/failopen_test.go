package admission

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv/cnpgtest"
)

// With the webhook server stopped, CNPG can still create its pods and PVCs
// (failurePolicy: Ignore): unchanged, the pod without the probe by
// HasSidecar, which is what the policy's SidecarMissing condition reports
// (controllers/restarts).
// The server then comes back serving from the Secret's files alone, as in
// --cert-manager mode (no rotator), and injects again.
func TestPodAndPVCCreationSucceedWhileTheWebhookServerIsStopped(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	ns := env.NewNamespace(t, nil)
	shape := cnpgtest.Shape{}
	must(t, c.Create(ctx, cnpgtest.NewCluster(ns, "orders", shape)))
	policy := cnpgtest.NewPolicy(ns, "orders", "orders", shape)
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

	pod := cnpgtest.InstancePod(t, cnpgtest.NewCluster(ns, "orders", shape))
	must(t, c.Create(ctx, pod))
	if got := getPod(t, ns, pod.Name); HasSidecar(got) || len(got.Spec.InitContainers) != 1 {
		t.Errorf("pod created while the server was stopped has init containers %v", containerNames(got.Spec.InitContainers))
	}
	pvc := cnpgPVC(ns, "orders-2", map[string]string{clusterLabel: "orders", pvcRoleLabel: pvcRoleData}, "1Gi")
	must(t, c.Create(ctx, pvc))
	if got := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != "1Gi" {
		t.Errorf("PVC created while the server was stopped requests %s", got.String())
	}

	if err := harness.start(true); err != nil {
		t.Fatalf("restart the webhook server in cert-manager mode: %v", err)
	}
	second := cnpgtest.InstancePod(t, cnpgtest.NewCluster(ns, "orders", shape))
	second.Name = "orders-2"
	must(t, c.Create(ctx, second))
	if got := getPod(t, ns, second.Name); !HasSidecar(got) {
		t.Errorf("the restarted server did not inject: %v", containerNames(got.Spec.InitContainers))
	}
}
