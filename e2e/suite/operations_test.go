//go:build e2e

package suite

import (
	"context"
	"fmt"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
)

// What operators do to a running cluster (#16, #18), on one instance with a
// data, a WAL and a tablespace volume: edit the policy while a growth is in
// flight, break the archive.
var _ = Describe("operations", Ordered, Label("gate3"), func() {
	const tablespace = "archive"
	var (
		ns, primary, wal, space string
		pg                      *cnpgv1.Cluster
	)
	BeforeAll(func(ctx SpecContext) {
		pg, primary = managedCluster(ctx, framework.ClusterSpec{Name: "warehouse", Tablespaces: []string{tablespace}}, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			quick(&s.Volumes.Data)
			quick(s.Volumes.WAL)
			s.Volumes.Data.Critical.UsedPercent = 90
			s.Volumes.WAL.Critical.UsedPercent = 90
			limit := resource.MustParse("8Gi")
			s.Volumes.Data.Limit = &limit
			rule := v1alpha1.VolumePolicy{Limit: &limit}
			quick(&rule)
			rule.Critical.UsedPercent = 90
			s.Volumes.Tablespaces = &v1alpha1.TablespacesSpec{Default: &rule}
		})
		ns, wal, space = pg.Namespace, primary+cnpgv1.WalArchiveVolumeSuffix, primary+cnpgv1.TablespaceVolumeInfix+tablespace
	})

	It("#16 accepts policy edits during a growth without losing data or state", func(ctx SpecContext) {
		requests := logRequests(ctx, ns, primary)
		// The storage takes 8 s (under the resizer's 10 s timeout) to grow the data volume: the edits land
		// while the growth is in flight. At 32 MiB/s the growth may be decided before the trigger, so the
		// volume is watched while it fills.
		annotatePVC(ctx, ns, primary, "sandbox.pgstorage.io/resize-latency", "8s")
		stopFill := fillBehind(ctx, ns, primary, "data", 62, 32, true)
		Eventually(func(g Gomega) {
			request, capacity := pvcSize(ctx, g, ns, primary)
			g.Expect(request.String()).To(Equal("2Gi"))
			g.Expect(capacity.String()).To(Equal("1Gi"), "the growth was not in flight")
		}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(time.Second).Should(Succeed())
		stopFill()

		By("DryRun, a lower trigger, a closed window and the limit lowered to the size in flight")
		editPolicy(ctx, ns, pg.Name, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			s.Mode = v1alpha1.ModeDryRun
			s.Volumes.Data.Trigger.UsedPercent = 55
			limit := resource.MustParse("2Gi")
			s.Volumes.Data.Limit = &limit
			s.MaintenanceWindows = []v1alpha1.MaintenanceWindow{dailyWindow(time.Now().Add(12*time.Hour), 30*time.Minute)}
		})
		// The growth in flight completes and is recorded once, in DryRun too.
		expectGrown(ctx, ns, primary, "data", primary, "2Gi", 3*time.Minute)
		annotatePVC(ctx, ns, primary, "sandbox.pgstorage.io/resize-latency", "0s")
		Eventually(func(g Gomega) {
			status := policy(ctx, g, ns, pg.Name).Status
			g.Expect(status.History).To(ConsistOf(And(HaveField("To", BeComparableTo(resource.MustParse("2Gi"))),
				HaveField("Outcome", v1alpha1.OutcomeSucceeded))), "history %+v", status.History)
			g.Expect(status.Budget.Actions).To(HaveLen(1))
		}).WithContext(ctx).WithTimeout(timeout(time.Minute)).WithPolling(2 * time.Second).Should(Succeed())

		// Over the new trigger, at the new limit, in DryRun: nothing moves.
		fill(ctx, ns, primary, "data", 58, 32, true)
		Eventually(func(g Gomega) {
			row := volumeRow(ctx, g, ns, pg.Name, primary)
			g.Expect(row.UsedPercent).To(BeNumerically(">=", 55))
			// DryRun says first that nothing is patched, then what would be.
			g.Expect(row.Gate).To(Equal("DryRun"), "%s: %s", row.PVC, row.Reason)
			g.Expect(row.Reason).To(ContainSubstring("but at limit 2Gi"))
		}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		expectUnchanged(ctx, ns, primary, "2Gi", 20*time.Second)

		By("the limit raised again, still DryRun: it says what it would do")
		editPolicy(ctx, ns, pg.Name, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			limit := resource.MustParse("8Gi")
			s.Volumes.Data.Limit = &limit
		})
		Eventually(func(g Gomega) {
			row := volumeRow(ctx, g, ns, pg.Name, primary)
			g.Expect(row.Gate).To(Equal("DryRun"), "%s: %s", row.PVC, row.Reason)
			g.Expect(row.Reason).To(ContainSubstring("nothing is patched; would be:"))
			g.Expect(row.Reason).NotTo(ContainSubstring("at limit"))
			g.Expect(row.Reason).To(ContainSubstring("3Gi"))
			GinkgoWriter.Printf("%s: %s\n", row.PVC, row.Reason)
		}).WithContext(ctx).WithTimeout(timeout(time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		expectUnchanged(ctx, ns, primary, "2Gi", 20*time.Second)

		By("Enforce again: the growth waits for the window, then happens once")
		editPolicy(ctx, ns, pg.Name, func(s *v1alpha1.StorageAutoscalePolicySpec) { s.Mode = v1alpha1.ModeEnforce })
		Eventually(func(g Gomega) {
			row := volumeRow(ctx, g, ns, pg.Name, primary)
			g.Expect(row.State).To(Equal(v1alpha1.VolumeQueued), "%s: %s", row.PVC, row.Reason)
			g.Expect(policy(ctx, g, ns, pg.Name).Status.Pending).To(ConsistOf(HaveField("To", BeComparableTo(resource.MustParse("3Gi")))))
		}).WithContext(ctx).WithTimeout(timeout(time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		expectUnchanged(ctx, ns, primary, "2Gi", 10*time.Second)
		editPolicy(ctx, ns, pg.Name, func(s *v1alpha1.StorageAutoscalePolicySpec) { s.MaintenanceWindows = nil })
		expectGrown(ctx, ns, primary, "data", primary, "3Gi", 3*time.Minute)
		expectUnchanged(ctx, ns, primary, "3Gi", 20*time.Second)

		Expect(requests.requests()).To(Equal([]string{"1Gi", "2Gi", "3Gi"}), "every request %s had", primary)
		status := policy(ctx, Default, ns, pg.Name).Status
		Expect(status.History).To(HaveLen(2), "history %+v", status.History)
		Expect(status.Budget.Actions).To(HaveLen(2))
		Expect(status.Pending).To(BeEmpty())
	})

	It("#18 a failing backup/archive never deadlocks storage reconciliation of other volumes", func(ctx SpecContext) {
		breakArchive(ctx, pg, primary)
		DeferCleanup(func(ctx SpecContext) {
			patchCluster(ctx, pg, `{"spec":{"backup":null}}`)
			_, _ = kube.PSQL(ctx, ns, primary, "select pg_drop_replication_slot('pgstorage_fill_hold') "+
				"where exists (select 1 from pg_replication_slots where slot_name = 'pgstorage_fill_hold'); checkpoint")
		})

		By("planned WAL growth is held while archiving fails")
		// Slowly enough that 90 % stays more than 30 s away: a held growth
		// whose critical threshold is nearer goes at once, as an emergency.
		// At 4 MiB/s a 16 MiB segment starts every 4 s, so no two probe
		// intervals in a row both see one (the sidecar's latest rate).
		fill(ctx, ns, primary, "wal", 62, 4, false)
		Eventually(func(g Gomega) {
			row := volumeRow(ctx, g, ns, pg.Name, wal)
			g.Expect(row.State).To(Equal(v1alpha1.VolumeBlocked), "%s: %s", row.PVC, row.Reason)
			g.Expect(row.Gate).To(Equal("WALSafety"))
		}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())

		By("the data and tablespace volumes of the same cluster still grow")
		dataBefore, _ := pvcSize(ctx, Default, ns, primary)
		dataNext := dataBefore.DeepCopy()
		dataNext.Add(resource.MustParse("1Gi"))
		fill(ctx, ns, primary, "data", 62, 32, true)
		expectGrown(ctx, ns, primary, "data", primary, dataNext.String(), 3*time.Minute)
		// Raw files: INSERTs would write WAL, which the failing archive
		// keeps, and fill the WAL volume past its critical threshold.
		fill(ctx, ns, primary, tablespace, 62, 32, true)
		expectGrown(ctx, ns, primary, tablespace, space, "2Gi", 3*time.Minute)
		Expect(volumeRow(ctx, Default, ns, pg.Name, wal).State).To(Equal(v1alpha1.VolumeBlocked))
		expectUnchanged(ctx, ns, wal, "1Gi", 5*time.Second)

		By("past the critical threshold the WAL volume grows anyway")
		fill(ctx, ns, primary, "wal", 92, 16, false)
		expectGrown(ctx, ns, primary, "wal", wal, "2Gi", 3*time.Minute)
		Expect(policy(ctx, Default, ns, pg.Name).Status.History).To(ContainElement(And(
			HaveField("Role", v1alpha1.RoleWAL), HaveField("Kind", v1alpha1.GrowthEmergency),
			HaveField("To", BeComparableTo(resource.MustParse("2Gi"))))))
		expectEvent(ctx, ns, wal, "EmergencyGrowing")
	})
})

// #17 on a cluster of its own, and Serial: the node is cordoned, so no
// other spec's pod could be scheduled meanwhile.
var _ = Describe("node drain", Ordered, Serial, Label("gate3"), func() {
	var (
		ns, primary string
		pg          *cnpgv1.Cluster
	)
	BeforeAll(func(ctx SpecContext) {
		pg, primary = managedCluster(ctx, framework.ClusterSpec{Name: "depot"}, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			quick(&s.Volumes.Data)
		})
		ns = pg.Namespace
	})

	It("#17 recovers after a node drain (pod deleted and re-created; sidecar re-injected)", func(ctx SpecContext) {
		// CNPG's node maintenance for a single instance: keep its PVCs and
		// drop the primary's PodDisruptionBudget so that the drain may
		// evict it; the pod comes back on the same volumes.
		patchCluster(ctx, pg, `{"spec":{"nodeMaintenanceWindow":{"inProgress":true,"reusePVC":true}}}`)
		DeferCleanup(func(ctx SpecContext) {
			patchCluster(ctx, pg, `{"spec":{"nodeMaintenanceWindow":{"inProgress":false}}}`)
		})
		old := &corev1.Pod{}
		Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: primary}, old)).To(Succeed())
		node := old.Spec.NodeName
		cordon(ctx, node, true)
		DeferCleanup(func(ctx SpecContext) { cordon(ctx, node, false) })
		pods := &corev1.PodList{}
		Expect(kube.Client.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{"cnpg.io/cluster": pg.Name, "cnpg.io/podRole": "instance"})).To(Succeed())
		for i := range pods.Items {
			evict(ctx, &pods.Items[i])
		}
		// CNPG re-creates the pod; it waits for the node.
		Eventually(func(g Gomega) {
			pod := &corev1.Pod{}
			g.Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: primary}, pod)).To(Succeed())
			g.Expect(pod.UID).NotTo(Equal(old.UID))
			g.Expect(pod.Status.Phase).To(Equal(corev1.PodPending))
		}).WithContext(ctx).WithTimeout(timeout(3 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())

		cordon(ctx, node, false)
		waitReady(ctx, pg)
		pod := &corev1.Pod{}
		Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: primary}, pod)).To(Succeed())
		expectObserved(ctx, pod)

		// Growth continues: one step from where the volume is.
		before, _ := pvcSize(ctx, Default, ns, primary)
		next := before.DeepCopy()
		next.Add(resource.MustParse("1Gi"))
		fill(ctx, ns, primary, "data", 62, 32, true)
		expectGrown(ctx, ns, primary, "data", primary, next.String(), 3*time.Minute)
	})
})

// breakArchive points the cluster's backup at an object store on a port
// nothing listens on, and waits until the primary's probe reports failed
// archiving (CNPG keeps the WAL and reports ContinuousArchiving=False).
func breakArchive(ctx context.Context, pg *cnpgv1.Cluster, primary string) {
	ns := pg.Namespace
	Expect(kube.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unreachable-store"},
		StringData: map[string]string{"ACCESS_KEY_ID": "e2e", "ACCESS_SECRET_KEY": "e2e"},
	})).To(Succeed())
	patchCluster(ctx, pg, `{"spec":{"backup":{"barmanObjectStore":{
		"destinationPath":"s3://pgstorage-e2e/","endpointURL":"http://127.0.0.1:9",
		"s3Credentials":{"accessKeyId":{"name":"unreachable-store","key":"ACCESS_KEY_ID"},
		"secretAccessKey":{"name":"unreachable-store","key":"ACCESS_SECRET_KEY"}}}}}}`)
	Eventually(func(g Gomega) {
		// A new segment to archive, until one has failed.
		_, err := kube.PSQL(ctx, ns, primary, "select pg_logical_emit_message(false, 'pgstorage-e2e', 'x'); select pg_switch_wal()")
		g.Expect(err).NotTo(HaveOccurred())
		obs := &v1alpha1.StorageObservation{}
		g.Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: primary}, obs)).To(Succeed())
		archiving := obs.Status.Postgres.Archiving
		g.Expect(archiving).NotTo(BeNil())
		g.Expect(archiving.Healthy).To(BeFalse(), "archiving %+v", archiving)
		g.Expect(archiving.FailedCount).To(BeNumerically(">", 0))
		GinkgoWriter.Printf("archiving: %+v\n", *archiving)
	}).WithContext(ctx).WithTimeout(timeout(3 * time.Minute)).WithPolling(5 * time.Second).Should(Succeed())
}

// cordon marks a node (un)schedulable, as kubectl cordon/uncordon does.
func cordon(ctx context.Context, node string, unschedulable bool) {
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, unschedulable)
	Expect(kube.Client.Patch(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}},
		client.RawPatch(types.MergePatchType, []byte(patch)))).To(Succeed())
}

// evict asks the Eviction API to evict a pod, as kubectl drain does: a
// PodDisruptionBudget that forbids it now answers 429, and drain retries.
func evict(ctx context.Context, pod *corev1.Pod) {
	eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name}}
	Eventually(func(g Gomega) {
		err := kube.Clientset.PolicyV1().Evictions(pod.Namespace).Evict(ctx, eviction)
		if apierrors.IsNotFound(err) {
			return
		}
		g.Expect(err).NotTo(HaveOccurred(), "evicting %s", pod.Name)
	}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
	GinkgoWriter.Printf("evicted %s\n", pod.Name)
}
