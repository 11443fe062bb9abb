//go:build e2e

package suite

import (
	"fmt"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
)

// Windows, emergency growth and budgets on one cluster (#10, #9, #11).
//
// The controller has no test clock: the window that is closed at first
// opens twelve hours from now, and #9 moves it to open within two minutes
// (cron has a one-minute resolution). The budget is two actions a day, one
// of them reserved for emergencies, so that #10 (emergency) and #9
// (planned) use it up for #11.
var _ = Describe("windows, emergency growth and budgets", Ordered, Label("gate2"), func() {
	var (
		ns, primary string
		pg          *cnpgv1.Cluster
	)
	BeforeAll(func(ctx SpecContext) {
		pg, primary = managedCluster(ctx, framework.ClusterSpec{Name: "billing"}, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			s.Volumes.Data.Trigger.UsedPercent = 60
			s.Volumes.Data.Critical.UsedPercent = 70
			s.Volumes.Data.Cooldown = metav1.Duration{Duration: 20 * time.Second}
			s.MaintenanceWindows = []v1alpha1.MaintenanceWindow{
				dailyWindow(time.Now().Add(12*time.Hour), 30*time.Minute),
			}
			s.Budget = v1alpha1.BudgetSpec{MaxActionsPerDay: 2, EmergencyReserve: ptr.To[int32](1)}
		})
		ns = pg.Namespace
	})

	It("#10 grows immediately when the critical threshold is reached, even outside the window", func(ctx SpecContext) {
		fill(ctx, ns, primary, "data", 72, 32, true)
		expectGrown(ctx, ns, primary, "data", primary, "2Gi", 3*time.Minute)
		status := policy(ctx, Default, ns, pg.Name).Status
		// At 32 MiB/s the growth queued at the trigger goes as soon as the
		// critical threshold is nearer than a growth lands ("critical
		// (usedPercent 70) reached in 2.2s at ..."), or at the threshold
		// itself ("critical usedPercent 70.4 >= 70").
		Expect(status.History).To(ContainElement(And(
			HaveField("Role", v1alpha1.RoleData), HaveField("Kind", v1alpha1.GrowthEmergency),
			HaveField("Trigger", ContainSubstring("critical")),
			HaveField("To", BeComparableTo(resource.MustParse("2Gi"))),
		)))
		Expect(status.Pending).To(BeEmpty())
		expectEvent(ctx, ns, primary, "EmergencyGrowing")
	})

	It("#9 queues planned growth outside the maintenance window and performs it when the window opens", func(ctx SpecContext) {
		// Sized from where the volume is (2Gi after #10; 1Gi when #9 runs
		// alone): the step, pinned at 1Gi.
		current, _ := pvcSize(ctx, Default, ns, primary)
		next := current.DeepCopy()
		next.Add(resource.MustParse("1Gi"))
		// A queued growth whose critical threshold a fill would reach
		// sooner than a growth lands goes at once, as an emergency: at
		// 6 MiB/s per GiB, 95 % stays more than 30 s away from 62 % (70 %,
		// which #10 needed, would be 13 s away).
		editPolicy(ctx, ns, pg.Name, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			s.Volumes.Data.Critical.UsedPercent = 95
		})
		fill(ctx, ns, primary, "data", 62, 6*current.Value()>>30, true)
		Eventually(func(g Gomega) {
			row := volumeRow(ctx, g, ns, pg.Name, primary)
			g.Expect(row.State).To(Equal(v1alpha1.VolumeQueued), "%s: %s", row.PVC, row.Reason)
			g.Expect(row.Gate).To(Equal("MaintenanceWindow"))
			g.Expect(row.Reason).To(ContainSubstring("planned growth to " + next.String() + " queued until"))
			pending := policy(ctx, g, ns, pg.Name).Status.Pending
			g.Expect(pending).To(ConsistOf(And(
				HaveField("Role", v1alpha1.RoleData), HaveField("To", BeComparableTo(next)),
				HaveField("NotBefore", Not(BeNil())))))
			GinkgoWriter.Printf("%s: %s\n", row.PVC, row.Reason)
		}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		expectUnchanged(ctx, ns, primary, current.String(), 20*time.Second)

		opens := time.Now().UTC().Truncate(time.Minute).Add(2 * time.Minute)
		editPolicy(ctx, ns, pg.Name, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			s.MaintenanceWindows = []v1alpha1.MaintenanceWindow{dailyWindow(opens, 30*time.Minute)}
		})
		Eventually(func(g Gomega) {
			pending := policy(ctx, g, ns, pg.Name).Status.Pending
			g.Expect(pending).To(ConsistOf(HaveField("NotBefore.Time", BeTemporally("==", opens))))
		}).WithContext(ctx).WithTimeout(timeout(time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		if closedFor := time.Until(opens) - 5*time.Second; closedFor > 0 {
			expectUnchanged(ctx, ns, primary, current.String(), closedFor)
		}

		expectGrown(ctx, ns, primary, "data", primary, next.String(), 3*time.Minute)
		status := policy(ctx, Default, ns, pg.Name).Status
		Expect(status.History).To(ContainElement(And(
			HaveField("Kind", v1alpha1.GrowthPlanned), HaveField("To", BeComparableTo(next)),
			HaveField("Time.Time", BeTemporally(">=", opens)),
		)))
		Expect(status.Pending).To(BeEmpty())
	})

	It("#11 keeps planned/emergency budget counters in status and stops at the budget", func(ctx SpecContext) {
		budget := policy(ctx, Default, ns, pg.Name).Status.Budget
		Expect(budget.PlannedUsed).To(BeEquivalentTo(1))
		Expect(budget.EmergencyUsed).To(BeEquivalentTo(1))
		Expect(budget.Actions).To(ConsistOf(
			HaveField("Kind", v1alpha1.GrowthEmergency), HaveField("Kind", v1alpha1.GrowthPlanned)))

		// The window is open; only the budget stands in the way now.
		fill(ctx, ns, primary, "data", 62, 32, true)
		Eventually(func(g Gomega) {
			row := volumeRow(ctx, g, ns, pg.Name, primary)
			g.Expect(row.State).To(Equal(v1alpha1.VolumeBlocked), "%s: %s", row.PVC, row.Reason)
			g.Expect(row.Gate).To(Equal("Budget"))
			g.Expect(row.Reason).To(ContainSubstring("daily budget for planned growth used: 1 of 1"))
			exhausted := condition(ctx, g, ns, pg.Name, v1alpha1.ConditionBudgetExhausted)
			g.Expect(exhausted.Status).To(Equal(metav1.ConditionTrue))
			GinkgoWriter.Printf("%s: %s\nBudgetExhausted: %s\n", row.PVC, row.Reason, exhausted.Message)
		}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		expectUnchanged(ctx, ns, primary, "3Gi", 30*time.Second)
		Expect(policy(ctx, Default, ns, pg.Name).Status.Budget.Actions).To(HaveLen(2))
	})
})

// dailyWindow is a maintenance window opening every day at opens' minute
// (UTC).
func dailyWindow(opens time.Time, duration time.Duration) v1alpha1.MaintenanceWindow {
	opens = opens.UTC()
	return v1alpha1.MaintenanceWindow{
		Schedule: fmt.Sprintf("%d %d * * *", opens.Minute(), opens.Hour()),
		Duration: metav1.Duration{Duration: duration}, TimeZone: "UTC",
	}
}

// DryRun, then the night the add-on exists for (#12, #25): the WAL volume
// fills while archiving cannot free it, PostgreSQL stops, CNPG's instance
// manager refuses to start it (exit code 4), and only the add-on, reading
// the volume with statfs, can bring it back.
var _ = Describe("dry run and the full-disk rescue", Ordered, Label("gate2"), func() {
	var (
		ns, primary, wal string
		pg               *cnpgv1.Cluster
	)
	BeforeAll(func(ctx SpecContext) {
		pg, primary = managedCluster(ctx, framework.ClusterSpec{Name: "nightly"}, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			s.Mode = v1alpha1.ModeDryRun
		})
		ns, wal = pg.Namespace, primary+cnpgv1.WalArchiveVolumeSuffix
		_, err := kube.PSQL(ctx, ns, primary, "create table committed (note text); insert into committed values ('before the disk filled')")
		Expect(err).NotTo(HaveOccurred())
	})

	It("#12 DryRun mode plans and reports but never patches", func(ctx SpecContext) {
		fill(ctx, ns, primary, "wal", 85, 24, false)
		Eventually(func(g Gomega) {
			dryRun := condition(ctx, g, ns, pg.Name, v1alpha1.ConditionDryRun)
			g.Expect(dryRun.Status).To(Equal(metav1.ConditionTrue))
			row := volumeRow(ctx, g, ns, pg.Name, wal)
			g.Expect(row.Gate).To(Equal("DryRun"), "%s: %s", row.PVC, row.Reason)
			g.Expect(row.Reason).To(ContainSubstring("dry run (spec.mode: DryRun), nothing is patched; would be: growing from 1Gi to 2Gi"))
			GinkgoWriter.Printf("%s: %s\nDryRun: %s\n", row.PVC, row.Reason, dryRun.Message)
		}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		expectUnchanged(ctx, ns, wal, "1Gi", 30*time.Second)
		status := policy(ctx, Default, ns, pg.Name).Status
		Expect(status.History).To(BeEmpty())
		Expect(status.Budget.Actions).To(BeEmpty())
	})

	It("#25 full-disk rescue: a WAL volume at 100% with PostgreSQL down is grown from statfs alone", func(ctx SpecContext) {
		// PostgreSQL PANICs when it cannot write WAL: the fill ends with
		// psql's error, not at a percentage.
		err := kube.Fill(ctx, framework.FillSpec{
			Namespace: ns, Pod: primary, Volume: "wal", RateBytesPerSecond: 24 << 20, UntilPercent: 101,
		}, GinkgoWriter)
		GinkgoWriter.Printf("fill ended: %v\n", err)

		// CNPG's instance manager refuses to start PostgreSQL on a full WAL
		// volume (exit code 4) and the Cluster says so.
		Eventually(func(g Gomega) {
			current := &cnpgv1.Cluster{}
			g.Expect(kube.Client.Get(ctx, client.ObjectKeyFromObject(pg), current)).To(Succeed())
			g.Expect(current.Status.Phase).To(Equal("Not enough disk space"))
			pod := &corev1.Pod{}
			g.Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: primary}, pod)).To(Succeed())
			g.Expect(pod.Status.ContainerStatuses).To(ContainElement(And(
				HaveField("Name", "postgres"),
				HaveField("LastTerminationState.Terminated.ExitCode", BeEquivalentTo(4)))))
			// The sidecar still measures the volume; PostgreSQL cannot answer.
			obs := observation(ctx, g, ns, primary)
			g.Expect(obs.Status.Postgres.Reachable).To(BeFalse())
			g.Expect(obs.Status.Volumes).To(ContainElement(And(
				HaveField("PVC", wal), HaveField("AvailableBytes", BeNumerically("<", int64(32)<<20)))))
		}).WithContext(ctx).WithTimeout(timeout(3 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		expectUnchanged(ctx, ns, wal, "1Gi", 10*time.Second)

		switched := time.Now()
		editPolicy(ctx, ns, pg.Name, func(s *v1alpha1.StorageAutoscalePolicySpec) { s.Mode = v1alpha1.ModeEnforce })
		Eventually(func(g Gomega) {
			request, capacity := pvcSize(ctx, g, ns, wal)
			g.Expect(request.Cmp(resource.MustParse("2Gi"))).To(Equal(0), "request %s", &request)
			g.Expect(capacity.Cmp(resource.MustParse("2Gi"))).To(Equal(0), "capacity %s", &capacity)
		}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(time.Second).Should(Succeed())
		grown := time.Since(switched)

		waitReady(ctx, pg)
		Eventually(func(g Gomega) {
			out, err := kube.PSQL(ctx, ns, primary, "select note from committed")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(out).To(Equal("before the disk filled"))
		}).WithContext(ctx).WithTimeout(timeout(time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		back := time.Since(switched)
		AddReportEntry("full-disk rescue", fmt.Sprintf("PVC grown %s and PostgreSQL back %s after the switch to Enforce",
			grown.Round(time.Second), back.Round(time.Second)))

		Expect(policy(ctx, Default, ns, pg.Name).Status.History).To(ContainElement(And(
			HaveField("Role", v1alpha1.RoleWAL), HaveField("Kind", v1alpha1.GrowthEmergency),
			HaveField("PVCs", ConsistOf(wal)), HaveField("Outcome", v1alpha1.OutcomeSucceeded),
		)))
		expectEvent(ctx, ns, wal, "EmergencyGrowing")
	})
})
