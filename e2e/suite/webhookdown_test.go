//go:build e2e

package suite

import (
	"context"
	"fmt"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/admission"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
)

// restartedAt is the annotation on a CNPG Cluster that asks for a rolling
// restart (what `kubectl cnpg restart` sets).
const restartedAt = "kubectl.kubernetes.io/restartedAt"

// #24: the webhooks are fail-open. With the controller scaled to zero, and
// then with its webhook unreachable while it runs, CNPG still creates pods
// and PVCs; the controller raises the PVCs, names the pods without the
// sidecar and, once allowed to, has CNPG restart them, once. Serial: no
// other spec's pod may be created while the webhook is down.
var _ = Describe("webhook down", Ordered, Serial, Label("gate4"), func() {
	var (
		ns, primary string
		pg          *cnpgv1.Cluster
	)
	BeforeAll(func(ctx SpecContext) {
		pg, primary = managedCluster(ctx, framework.ClusterSpec{Name: "shipping"}, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			quick(&s.Volumes.Data)
		})
		ns = pg.Namespace
		// CNPG restarts the primary by a switchover after the replicas.
		patchCluster(ctx, pg, `{"spec":{"primaryUpdateMethod":"switchover"}}`)
		fill(ctx, ns, primary, "data", 62, 32, true)
		expectGrown(ctx, ns, primary, "data", primary, "2Gi", 3*time.Minute)
	})

	It("#24 webhook down: pods and PVCs still created; too-small PVCs raised; SidecarMissing; restartExisting", func(ctx SpecContext) {
		By("the controller scaled to zero: CNPG adds a replica without the add-on")
		replicas := scaleController(ctx, 0)
		DeferCleanup(func(ctx SpecContext) { scaleController(ctx, replicas) })
		instances := scaleCluster(ctx, pg, 2)
		replica := without(instances, primary)[0]
		expectSidecar(ctx, ns, replica, false)
		expectSizes(ctx, ns, []string{replica}, "1Gi") // CNPG's size: nothing raised it

		By("the controller returns: the PVC is raised and the pod named")
		scaleController(ctx, replicas)
		expectGrown(ctx, ns, replica, "data", replica, "2Gi", 3*time.Minute)
		expectSidecarMissing(ctx, ns, pg.Name, replica)

		By("restartExisting: CNPG restarts the replica, then switches over, and the sidecar is injected, once")
		before := podUIDs(ctx, ns, instances)
		// The policy webhook fails closed (an unchecked policy is worse than
		// a late one): the edit waits until the returned controller answers.
		Eventually(func() error {
			return updatePolicy(ctx, ns, pg.Name, func(s *v1alpha1.StorageAutoscalePolicySpec) { s.Injection.RestartExisting = true })
		}).WithContext(ctx).WithTimeout(timeout(time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(condition(ctx, g, ns, pg.Name, v1alpha1.ConditionSidecarMissing).Status).To(Equal(metav1.ConditionFalse))
		}).WithContext(ctx).WithTimeout(timeout(6 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		waitReady(ctx, pg)
		for _, pod := range instances {
			expectSidecar(ctx, ns, pod, true)
		}
		after := podUIDs(ctx, ns, instances)
		Expect(after[replica]).NotTo(Equal(before[replica]), "the replica was not restarted")
		Expect(after[primary]).NotTo(Equal(before[primary]), "the primary was not restarted")
		current := &cnpgv1.Cluster{}
		Expect(kube.Client.Get(ctx, client.ObjectKeyFromObject(pg), current)).To(Succeed())
		stamp := current.Annotations[restartedAt]
		Expect(stamp).NotTo(BeEmpty())
		GinkgoWriter.Printf("restart at %s; primary %s, was %s\n", stamp, current.Status.CurrentPrimary, primary)
		Consistently(func(g Gomega) {
			g.Expect(podUIDs(ctx, ns, instances)).To(Equal(after), "a second restart")
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(2 * time.Second).Should(Succeed())

		By("the webhook unreachable while the controller runs")
		unreachable(ctx, true)
		DeferCleanup(func(ctx SpecContext) { unreachable(ctx, false) })
		instances = scaleCluster(ctx, pg, 3)
		var added string
		for _, pod := range instances {
			if _, known := after[pod]; !known {
				added = pod
			}
		}
		Expect(added).NotTo(BeEmpty())
		expectSidecar(ctx, ns, added, false)
		expectGrown(ctx, ns, added, "data", added, "2Gi", 3*time.Minute)
		expectSidecarMissing(ctx, ns, pg.Name, added)
		// Within the hour after its restart the controller does not roll
		// the cluster again: it would not help while the webhook is down.
		Consistently(func(g Gomega) {
			c := &cnpgv1.Cluster{}
			g.Expect(kube.Client.Get(ctx, client.ObjectKeyFromObject(pg), c)).To(Succeed())
			g.Expect(c.Annotations[restartedAt]).To(Equal(stamp), "a second restart")
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(2 * time.Second).Should(Succeed())
		unreachable(ctx, false)
	})
})

// scaleController sets the controller Deployment's replicas, waits until
// that many pods are ready (and the others gone), and returns the replicas
// it had.
func scaleController(ctx context.Context, replicas int32) int32 {
	deployment := &appsv1.Deployment{}
	Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: addonNamespace, Name: addonName}, deployment)).To(Succeed())
	had := *deployment.Spec.Replicas
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	Expect(kube.Client.Patch(ctx, deployment, client.RawPatch(types.MergePatchType, []byte(patch)))).To(Succeed())
	Eventually(func(g Gomega) {
		pods := &corev1.PodList{}
		g.Expect(kube.Client.List(ctx, pods, client.InNamespace(addonNamespace),
			client.MatchingLabels{"app.kubernetes.io/name": addonName, "app.kubernetes.io/component": "controller"})).To(Succeed())
		ready := 0
		for _, pod := range pods.Items {
			for _, c := range pod.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && pod.DeletionTimestamp == nil {
					ready++
				}
			}
		}
		g.Expect(pods.Items).To(HaveLen(int(replicas)))
		g.Expect(ready).To(Equal(int(replicas)))
	}).WithContext(ctx).WithTimeout(timeout(3 * time.Minute)).WithPolling(time.Second).Should(Succeed())
	GinkgoWriter.Printf("controller at %d replicas\n", replicas)
	return had
}

// unreachable points the pod and PVC webhooks at a Service that does not
// exist (or back at the add-on's): the API server's calls fail while the
// controller runs. (Emptying the Service's endpoints is not enough: the API
// server keeps its open connection to a webhook pod.)
func unreachable(ctx context.Context, on bool) {
	service := addonName + "-webhook"
	if on {
		service = "e2e-unreachable"
	}
	patch := fmt.Sprintf(`{"webhooks":[{"name":"pods.pgstorage.io","clientConfig":{"service":{"name":%q}}},`+
		`{"name":"pvcs.pgstorage.io","clientConfig":{"service":{"name":%q}}}]}`, service, service)
	Expect(kube.Client.Patch(ctx, &admissionv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: addonName}},
		client.RawPatch(types.StrategicMergePatchType, []byte(patch)))).To(Succeed())
}

// expectSidecar checks whether an instance pod carries the probe.
func expectSidecar(ctx context.Context, ns, name string, want bool) {
	pod := &corev1.Pod{}
	Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod)).To(Succeed())
	has := false
	for _, c := range pod.Spec.InitContainers {
		has = has || c.Name == admission.SidecarName
	}
	Expect(has).To(Equal(want), "pod %s has the sidecar: %t", name, has)
}

// expectSidecarMissing waits until the SidecarMissing condition names pod.
func expectSidecarMissing(ctx context.Context, ns, policyName, pod string) {
	Eventually(func(g Gomega) {
		missing := condition(ctx, g, ns, policyName, v1alpha1.ConditionSidecarMissing)
		g.Expect(missing.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(missing.Message).To(ContainSubstring(pod))
		GinkgoWriter.Printf("SidecarMissing: %s\n", missing.Message)
	}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
}

// podUIDs maps instance pods to their UIDs.
func podUIDs(ctx context.Context, ns string, names []string) map[string]types.UID {
	uids := map[string]types.UID{}
	for _, name := range names {
		pod := &corev1.Pod{}
		Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod)).To(Succeed())
		uids[name] = pod.UID
	}
	return uids
}
