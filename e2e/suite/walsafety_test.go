//go:build e2e

package suite

import (
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
)

// One cluster with a data, a WAL and a tablespace volume for #6–#8: the
// tablespace grows, the WAL grows, then WAL growth is held while archiving
// fails and, once archiving works again, while an inactive slot retains
// more than the policy allows.
var _ = Describe("tablespace and WAL volumes", Ordered, Label("gate1"), func() {
	const tablespace = "reports"
	var (
		ns, primary, wal string
		pg               *cnpgv1.Cluster
	)
	BeforeAll(func(ctx SpecContext) {
		pg, primary = managedCluster(ctx, framework.ClusterSpec{Name: "ledger", Tablespaces: []string{tablespace}}, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			quick(s.Volumes.WAL)
			limit := resource.MustParse("4Gi")
			rule := v1alpha1.VolumePolicy{Limit: &limit}
			quick(&rule)
			s.Volumes.Tablespaces = &v1alpha1.TablespacesSpec{Default: &rule}
		})
		ns, wal = pg.Namespace, primary+cnpgv1.WalArchiveVolumeSuffix
	})

	It("#6 grows a tablespace volume", func(ctx SpecContext) {
		pvc := primary + cnpgv1.TablespaceVolumeInfix + tablespace
		fill(ctx, ns, primary, tablespace, 62, 16, false)
		expectGrown(ctx, ns, primary, tablespace, pvc, "2Gi", 3*time.Minute)

		status := policy(ctx, Default, ns, pg.Name).Status
		Expect(status.History).To(ContainElement(And(
			HaveField("Role", v1alpha1.RoleTablespace), HaveField("Tablespace", tablespace),
			HaveField("PVCs", ConsistOf(pvc)), HaveField("To", BeComparableTo(resource.MustParse("2Gi"))),
		)))
		Expect(status.EffectiveSizes.Tablespaces).To(HaveKeyWithValue(tablespace, BeComparableTo(resource.MustParse("2Gi"))))
		expectEvent(ctx, ns, pvc, "Growing")
	})

	It("#7 grows the WAL volume; blocks planned WAL growth while archiving fails, with a reason", func(ctx SpecContext) {
		// Archiving works (CNPG archives nowhere when no backup is
		// configured, successfully): WAL held by a forgotten slot grows.
		fill(ctx, ns, primary, "wal", 62, 16, false)
		expectGrown(ctx, ns, primary, "wal", wal, "2Gi", 3*time.Minute)

		// The backup target becomes unreachable: an object store on a port
		// nothing listens on. Every archive attempt then fails; CNPG
		// reports ContinuousArchiving=False and keeps the WAL.
		breakArchive(ctx, pg, primary)

		// Slowly enough that 95 % stays more than 30 s away: a held growth
		// whose critical threshold is nearer goes at once, as an emergency.
		fill(ctx, ns, primary, "wal", 62, 12, false)
		Eventually(func(g Gomega) {
			row := volumeRow(ctx, g, ns, pg.Name, wal)
			g.Expect(row.State).To(Equal(v1alpha1.VolumeBlocked), "%s: %s", row.PVC, row.Reason)
			g.Expect(row.Gate).To(Equal("WALSafety"))
			g.Expect(row.Reason).To(ContainSubstring("archiving failing"))
			g.Expect(row.Reason).To(ContainSubstring("planned WAL growth held"))
			blocked := condition(ctx, g, ns, pg.Name, v1alpha1.ConditionBlocked)
			g.Expect(blocked.Status).To(Equal(metav1.ConditionTrue))
			GinkgoWriter.Printf("%s: %s\n", row.PVC, row.Reason)
		}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		expectUnchanged(ctx, ns, wal, "2Gi", 30*time.Second)

		// CNPG tells the same story on its Cluster.
		Eventually(func(g Gomega) {
			current := &cnpgv1.Cluster{}
			g.Expect(kube.Client.Get(ctx, client.ObjectKeyFromObject(pg), current)).To(Succeed())
			archiving := meta.FindStatusCondition(current.Status.Conditions, string(cnpgv1.ConditionContinuousArchiving))
			g.Expect(archiving).NotTo(BeNil())
			g.Expect(archiving.Status).To(Equal(metav1.ConditionFalse))
			GinkgoWriter.Printf("CNPG: phase %q, ContinuousArchiving %s: %s\n", current.Status.Phase, archiving.Reason, archiving.Message)
		}).WithContext(ctx).WithTimeout(timeout(time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
	})

	It("#8 blocks planned growth while an inactive slot retains more than the limit", func(ctx SpecContext) {
		editPolicy(ctx, ns, pg.Name, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			s.WALSafety.MaxInactiveSlotRetention = resource.MustParse("256Mi")
		})
		// Archiving works again; the fill's slot still holds ~1.2Gi.
		patchCluster(ctx, pg, `{"spec":{"backup":null}}`)
		Eventually(func(g Gomega) {
			postgres := observation(ctx, g, ns, primary).Status.Postgres
			g.Expect(postgres.Archiving).NotTo(BeNil())
			g.Expect(postgres.Archiving.Healthy).To(BeTrue(), "archiving %+v", *postgres.Archiving)
			g.Expect(postgres.Slots).To(ContainElement(And(
				HaveField("Name", "pgstorage_fill_hold"), HaveField("Active", false),
				HaveField("RetainedBytes", BeNumerically(">", int64(256)<<20)))))

			row := volumeRow(ctx, g, ns, pg.Name, wal)
			g.Expect(row.State).To(Equal(v1alpha1.VolumeBlocked), "%s: %s", row.PVC, row.Reason)
			g.Expect(row.Gate).To(Equal("WALSafety"))
			g.Expect(row.Reason).To(ContainSubstring(`inactive replication slot "pgstorage_fill_hold" retains`))
			g.Expect(row.Reason).To(ContainSubstring("maxInactiveSlotRetention 256Mi"))
			GinkgoWriter.Printf("%s: %s\n", row.PVC, row.Reason)
		}).WithContext(ctx).WithTimeout(timeout(3 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		expectUnchanged(ctx, ns, wal, "2Gi", 20*time.Second)

		// Doing what the reason says (drop the slot) frees the WAL: nothing
		// is held, and there is nothing left to grow.
		_, err := kube.PSQL(ctx, ns, primary, "select pg_drop_replication_slot('pgstorage_fill_hold'); checkpoint")
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			row := volumeRow(ctx, g, ns, pg.Name, wal)
			g.Expect(row.State).To(Equal(v1alpha1.VolumeIdle), "%s: %s", row.PVC, row.Reason)
			g.Expect(row.UsedPercent).To(BeNumerically("<", 60))
		}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		expectUnchanged(ctx, ns, wal, "2Gi", 10*time.Second)
	})
})
