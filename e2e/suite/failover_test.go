//go:build e2e

package suite

import (
	"context"
	"fmt"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	"github.com/cloudnative-pg/cloudnative-pg/pkg/resources/status"
	pgtime "github.com/cloudnative-pg/machinery/pkg/postgres/time"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
)

// #15 on a primary and a replica: CNPG promotes the replica while a growth
// of the data role is in flight (through the API `kubectl cnpg promote`
// uses), then fails over after a hard kill of the new primary while a
// planned growth waits for a maintenance window.
var _ = Describe("failover", Ordered, Label("gate3"), func() {
	var (
		ns, first string
		pg        *cnpgv1.Cluster
	)
	BeforeAll(func(ctx SpecContext) {
		pg, first = managedCluster(ctx, framework.ClusterSpec{Name: "accounts", Instances: 2}, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			quick(&s.Volumes.Data)
			limit := resource.MustParse("8Gi")
			s.Volumes.Data.Limit = &limit
		})
		ns = pg.Namespace
	})

	It("#15 continues safely after a failover (new primary's volumes sized, no shrink)", func(ctx SpecContext) {
		second := otherInstance(ctx, pg, first)
		logs := map[string]*requestLog{}
		for _, pvc := range []string{first, second, first + cnpgv1.WalArchiveVolumeSuffix, second + cnpgv1.WalArchiveVolumeSuffix} {
			logs[pvc] = logRequests(ctx, ns, pvc)
		}

		By("a switchover while the data role's growth is in flight")
		// The storage takes 8 s (under the resizer's 10 s timeout) to grow each data volume: the growth is in
		// flight (request 2Gi, capacity 1Gi) when CNPG switches over. At 32 MiB/s the growth may be decided
		// before the trigger (its latest rate reaches it within 5 s), so the volume is watched while it fills.
		for _, pvc := range []string{first, second} {
			annotatePVC(ctx, ns, pvc, "sandbox.pgstorage.io/resize-latency", "8s")
		}
		stopFill := fillBehind(ctx, ns, first, "data", 62, 32, true)
		Eventually(func(g Gomega) {
			request, capacity := pvcSize(ctx, g, ns, second)
			g.Expect(request.String()).To(Equal("2Gi"))
			g.Expect(capacity.String()).To(Equal("1Gi"), "the growth was not in flight")
		}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(time.Second).Should(Succeed())
		stopFill()
		promote(ctx, pg, second)
		waitPrimary(ctx, pg, second)
		for _, pvc := range []string{first, second} {
			expectGrown(ctx, ns, pvc, "data", pvc, "2Gi", 3*time.Minute)
			annotatePVC(ctx, ns, pvc, "sandbox.pgstorage.io/resize-latency", "0s")
		}
		expectPrimaryObserved(ctx, ns, second)

		By("a hard kill of the new primary while a planned growth is queued")
		editPolicy(ctx, ns, pg.Name, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			s.MaintenanceWindows = []v1alpha1.MaintenanceWindow{dailyWindow(time.Now().Add(12*time.Hour), 30*time.Minute)}
		})
		// Slowly enough that 95 % stays more than 30 s away: a queued growth
		// whose critical threshold is nearer goes at once, as an emergency.
		fill(ctx, ns, second, "data", 62, 12, true)
		Eventually(func(g Gomega) {
			pending := policy(ctx, g, ns, pg.Name).Status.Pending
			g.Expect(pending).To(ConsistOf(And(HaveField("Role", v1alpha1.RoleData), HaveField("To", BeComparableTo(resource.MustParse("3Gi"))))))
		}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		killed := &corev1.Pod{}
		Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: second}, killed)).To(Succeed())
		Expect(kube.Client.Delete(ctx, killed, client.GracePeriodSeconds(0))).To(Succeed())
		waitPrimary(ctx, pg, first)
		waitReady(ctx, pg)
		expectPrimaryObserved(ctx, ns, first)
		// The queued growth is still one growth, still queued.
		Eventually(func(g Gomega) {
			pending := policy(ctx, g, ns, pg.Name).Status.Pending
			g.Expect(pending).To(ConsistOf(And(HaveField("Role", v1alpha1.RoleData), HaveField("To", BeComparableTo(resource.MustParse("3Gi"))))))
		}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		for _, pvc := range []string{first, second} {
			expectUnchanged(ctx, ns, pvc, "2Gi", 5*time.Second)
		}

		By("the window opens: the queued growth happens once, for both instances")
		editPolicy(ctx, ns, pg.Name, func(s *v1alpha1.StorageAutoscalePolicySpec) { s.MaintenanceWindows = nil })
		for _, pvc := range []string{first, second} {
			expectGrown(ctx, ns, pvc, "data", pvc, "3Gi", 3*time.Minute)
		}
		expectUnchanged(ctx, ns, second, "3Gi", 20*time.Second)
		for pvc, log := range logs {
			want := []string{"1Gi", "2Gi", "3Gi"}
			if pvc != first && pvc != second {
				want = []string{"1Gi"} // WAL: never touched, never shrunk
			}
			Expect(log.requests()).To(Equal(want), "every request %s had", pvc)
		}
		status := policy(ctx, Default, ns, pg.Name).Status
		Expect(status.History).To(HaveLen(2), "one history entry per growth: %+v", status.History)
		Expect(status.History[0].To.String()).To(Equal("2Gi"))
		Expect(status.History[1].To.String()).To(Equal("3Gi"))
		Expect(status.Budget.Actions).To(HaveLen(2), "one budget action per growth")
		Expect(status.EffectiveSizes.Data).To(HaveValue(BeComparableTo(resource.MustParse("3Gi"))))
	})
})

// otherInstance is an instance pod of the cluster other than pod.
func otherInstance(ctx context.Context, pg *cnpgv1.Cluster, pod string) string {
	pods := &corev1.PodList{}
	Expect(kube.Client.List(ctx, pods, client.InNamespace(pg.Namespace),
		client.MatchingLabels{"cnpg.io/cluster": pg.Name, "cnpg.io/podRole": "instance"})).To(Succeed())
	for _, p := range pods.Items {
		if p.Name != pod {
			return p.Name
		}
	}
	Fail(fmt.Sprintf("cluster %s has no instance besides %s", pg.Name, pod))
	return ""
}

// promote asks CNPG to switch over to instance the way `kubectl cnpg
// promote` does: the Cluster's status names the target primary.
func promote(ctx context.Context, pg *cnpgv1.Cluster, instance string) {
	current := &cnpgv1.Cluster{}
	Expect(kube.Client.Get(ctx, client.ObjectKeyFromObject(pg), current)).To(Succeed())
	Expect(status.PatchWithOptimisticLock(ctx, kube.Client, current, func(c *cnpgv1.Cluster) {
		c.Status.TargetPrimary = instance
		c.Status.TargetPrimaryTimestamp = pgtime.GetCurrentTimestamp()
		c.Status.Phase = cnpgv1.PhaseSwitchover
		c.Status.PhaseReason = "Switching over to " + instance
	}, status.SetClusterReadyCondition)).To(Succeed())
}

// waitPrimary waits until CNPG reports instance as the cluster's primary
// and the instance's pod carries the primary role.
func waitPrimary(ctx context.Context, pg *cnpgv1.Cluster, instance string) {
	Eventually(func(g Gomega) {
		current := &cnpgv1.Cluster{}
		g.Expect(kube.Client.Get(ctx, client.ObjectKeyFromObject(pg), current)).To(Succeed())
		g.Expect(current.Status.CurrentPrimary).To(Equal(instance), "phase %q: %s", current.Status.Phase, current.Status.PhaseReason)
		pod := &corev1.Pod{}
		g.Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: pg.Namespace, Name: instance}, pod)).To(Succeed())
		g.Expect(pod.Labels).To(HaveKeyWithValue("cnpg.io/instanceRole", "primary"))
	}).WithContext(ctx).WithTimeout(timeout(4 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
}

// expectPrimaryObserved waits until the instance's own probe reports it as
// the primary and reads WAL archiving from it: the WAL safety of the role
// comes from the primary that says so, not from the old one.
func expectPrimaryObserved(ctx context.Context, ns, instance string) {
	Eventually(func(g Gomega) {
		obs := &v1alpha1.StorageObservation{}
		g.Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: instance}, obs)).To(Succeed())
		g.Expect(obs.Status.Postgres.Reachable).To(BeTrue(), "postgres: %s", obs.Status.Postgres.Reason)
		g.Expect(obs.Status.Role).To(Equal(v1alpha1.InstancePrimary), "observation of %s", instance)
		g.Expect(obs.Status.Postgres.Archiving).NotTo(BeNil())
		g.Expect(obs.Status.Postgres.Archiving.Healthy).To(BeTrue())
	}).WithContext(ctx).WithTimeout(timeout(3 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
}
