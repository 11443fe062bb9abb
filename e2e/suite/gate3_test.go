//go:build e2e

package suite

import (
	"fmt"
	"slices"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
)

// The add-on's own namespace and pods, as e2e/run.sh installs them.
const (
	addonNamespace = "pgstorage-system"
	addonName      = "cnpg-storage-autoscaler"
)

// Disruptions on one cluster (#14, #19, #20, #20b): the primary's pod is
// deleted, the probe cannot report, and the storage refuses a growth, then
// grants a smaller one.
var _ = Describe("disruptions", Ordered, Label("gate3"), func() {
	var (
		ns, primary string
		pg          *cnpgv1.Cluster
	)
	BeforeAll(func(ctx SpecContext) {
		pg, primary = managedCluster(ctx, framework.ClusterSpec{Name: "payments"}, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			quick(&s.Volumes.Data)
			s.ObservationMaxAge = metav1.Duration{Duration: 90 * time.Second}
		})
		ns = pg.Namespace
	})

	It("#14 continues correctly after the primary pod restarts", func(ctx SpecContext) {
		before, _ := pvcSize(ctx, Default, ns, primary)
		old := &corev1.Pod{}
		Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: primary}, old)).To(Succeed())
		Expect(kube.Client.Delete(ctx, old)).To(Succeed())
		// CNPG re-creates the pod on the same PVCs; the webhook injects the
		// probe again, and its observation names the new pod.
		Eventually(func(g Gomega) {
			pod := &corev1.Pod{}
			g.Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: primary}, pod)).To(Succeed())
			g.Expect(pod.UID).NotTo(Equal(old.UID))
			g.Expect(observation(ctx, g, ns, primary).Spec.PodUID).To(Equal(string(pod.UID)))
		}).WithContext(ctx).WithTimeout(timeout(3 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		waitReady(ctx, pg)
		pod := &corev1.Pod{}
		Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: primary}, pod)).To(Succeed())
		expectObserved(ctx, pod)

		// Nothing shrank or moved, and growth still works: one step (1Gi)
		// from where the volume is.
		request, capacity := pvcSize(ctx, Default, ns, primary)
		Expect(request.Cmp(before)).To(Equal(0), "request %s after the restart, %s before", &request, &before)
		Expect(capacity.Cmp(before)).To(Equal(0), "capacity %s after the restart, %s before", &capacity, &before)
		next := request.DeepCopy()
		next.Add(resource.MustParse("1Gi"))
		fill(ctx, ns, primary, "data", 62, 16, false)
		expectGrown(ctx, ns, primary, "data", primary, next.String(), 3*time.Minute)
	})

	It("#19 stale observations (sidecar stopped) cause no growth and an ObservationsStale condition", func(ctx SpecContext) {
		// Sizes relative to where #14 left the volume, so that the
		// spec also runs alone (--focus): the next growth is one step, 1Gi.
		before, _ := pvcSize(ctx, Default, ns, primary)
		next := before.DeepCopy()
		next.Add(resource.MustParse("1Gi"))
		// The probe keeps running but cannot report: every write of this
		// namespace's observations is refused, as when the API server is
		// unreachable from the node.
		lift := refuseWrites(ctx, ns, refusal{
			name: "e2e-silence", operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
			resources: []string{"storageobservations", "storageobservations/status"},
			who:       "'authentication.kubernetes.io/pod-name' in request.userInfo.extra",
			message:   "e2e #19: the probe cannot report",
		})

		// Past observationMaxAge (90s) without a write: stale, and a volume
		// over its trigger is not grown on the old figures.
		Eventually(func(g Gomega) {
			stale := condition(ctx, g, ns, pg.Name, v1alpha1.ConditionObservationsStale)
			g.Expect(stale.Status).To(Equal(metav1.ConditionTrue))
			row := volumeRow(ctx, g, ns, pg.Name, primary)
			g.Expect(row.State).To(Equal(v1alpha1.VolumeStale), "%s: %s", row.PVC, row.Reason)
			GinkgoWriter.Printf("ObservationsStale: %s\n%s: %s\n", stale.Message, row.PVC, row.Reason)
		}).WithContext(ctx).WithTimeout(timeout(4 * time.Minute)).WithPolling(5 * time.Second).Should(Succeed())
		// 65, not 62: df during an INSERT fill counts XFS's speculative
		// preallocation past the end of the growing table files, which it
		// later trims; a run on 2026-12-03 stopped at 63.0 % by df and
		// settled at 59.9 %, under the 60 % trigger.
		fill(ctx, ns, primary, "data", 65, 16, false)
		expectUnchanged(ctx, ns, primary, before.String(), 45*time.Second)

		// The probe reports again: the fill it could not report is grown.
		lift(ctx)
		expectGrown(ctx, ns, primary, "data", primary, next.String(), 3*time.Minute)
		Eventually(func(g Gomega) {
			g.Expect(condition(ctx, g, ns, pg.Name, v1alpha1.ConditionObservationsStale).Status).To(Equal(metav1.ConditionFalse))
		}).WithContext(ctx).WithTimeout(timeout(time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
	})

	It("#20 a growth that the storage reports infeasible or stuck ends in ResizeFailed with the driver's message", func(ctx SpecContext) {
		if env.name != "sandbox" {
			Skip("needs a storage fault on demand: the sandbox's CSI driver injects one from a PVC annotation, Azure Disk has no such switch")
		}
		wal := primary + cnpgv1.WalArchiveVolumeSuffix
		annotatePVC(ctx, ns, wal, "sandbox.pgstorage.io/resize-fault", "infeasible")
		fill(ctx, ns, primary, "wal", 82, 24, false)
		driverSays := `cannot be expanded (fault "infeasible" injected)`
		Eventually(func(g Gomega) {
			failed := condition(ctx, g, ns, pg.Name, v1alpha1.ConditionResizeFailed)
			g.Expect(failed.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(failed.Message).To(ContainSubstring(driverSays))
			row := volumeRow(ctx, g, ns, pg.Name, wal)
			g.Expect(row.Gate).To(Equal("ResizeFailed"))
			g.Expect(row.Reason).To(ContainSubstring(driverSays))
			g.Expect(row.Reason).To(ContainSubstring("not retried by the add-on while " + wal + " requests 2Gi"))
			g.Expect(policy(ctx, g, ns, pg.Name).Status.History).To(ContainElement(And(
				HaveField("Role", v1alpha1.RoleWAL), HaveField("Outcome", v1alpha1.OutcomeFailed),
				HaveField("Message", ContainSubstring(driverSays)))))
			GinkgoWriter.Printf("ResizeFailed: %s\n%s: %s\n", failed.Message, row.PVC, row.Reason)
		}).WithContext(ctx).WithTimeout(timeout(3 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		expectEvent(ctx, ns, wal, "ResizeFailed")
		// Nothing asks for more while the driver refuses.
		expectUnchanged(ctx, ns, wal, "2Gi", 30*time.Second)
	})

	It("#20b with onInfeasible: Retry, a growth the storage refuses as infeasible is lowered once to half the step, and grows", func(ctx SpecContext) {
		if env.name != "sandbox" {
			Skip("needs a storage fault on demand: the sandbox's CSI driver bounds a volume's size from a PVC annotation, Azure Disk has no such switch")
		}
		// Sizes relative to where the specs before left the data volume, so
		// that the spec also runs alone (--focus). One step of exactly 2Gi is
		// refused by a disk whose largest size is 1Gi above the capacity; the
		// retry, at half the step (controllers/plan retryTarget), fits.
		data := primary
		request, capacity := pvcSize(ctx, Default, ns, data)
		Expect(request.Cmp(capacity)).To(Equal(0), "PVC %s requests %s at capacity %s: a growth is still in flight", data, &request, &capacity)
		plus := func(size string) resource.Quantity {
			sum := capacity.DeepCopy()
			sum.Add(resource.MustParse(size))
			return sum
		}
		refused, retried, limit := plus("2Gi"), plus("1Gi"), plus("4Gi")

		saved := policy(ctx, Default, ns, pg.Name).Spec
		editPolicy(ctx, ns, pg.Name, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			step := resource.MustParse("2Gi")
			s.Volumes.Data.Step.Min, s.Volumes.Data.Step.Max = step, step
			s.Volumes.Data.Limit = &limit
			s.Volumes.Data.OnInfeasible = v1alpha1.InfeasibleRetry
			// Room in the day's budget whatever the specs before used; the
			// spec counts its own actions below.
			s.Budget.MaxActionsPerDay = 24
		})
		DeferCleanup(func(ctx SpecContext) {
			editPolicy(ctx, ns, pg.Name, func(s *v1alpha1.StorageAutoscalePolicySpec) {
				s.Volumes.Data, s.Budget = saved.Volumes.Data, saved.Budget
			})
		})
		annotatePVC(ctx, ns, data, "sandbox.pgstorage.io/max-size", retried.String())
		DeferCleanup(func(ctx SpecContext) {
			Expect(kube.Client.Patch(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: data}},
				client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"sandbox.pgstorage.io/max-size":null}}}`)))).To(Succeed())
		})

		// Every request the PVC has, so that a second retry or a catch-up to
		// the refused size cannot hide between two polls. Filled with dd:
		// an INSERT writes WAL, which #20's slot keeps on a WAL volume the
		// storage refuses to grow.
		requests := logRequests(ctx, ns, data)
		fill(ctx, ns, primary, "data", 62, 16, true)

		// The growth to capacity + 2Gi is refused: the external-resizer takes
		// the driver's OutOfRange as infeasible, and the add-on ends the
		// growth Failed with the driver's words and lowers the request.
		driverSays := fmt.Sprintf(`cannot be expanded to %s (fault "max-size" injected)`, refused.String())
		Eventually(func(g Gomega) {
			history := policy(ctx, g, ns, pg.Name).Status.History
			first := newestGrowth(history, data, refused, false)
			g.Expect(first).NotTo(BeNil(), "no growth of %s to %s in history %+v", data, &refused, history)
			g.Expect(first.Outcome).To(Equal(v1alpha1.OutcomeFailed), "%+v", *first)
			g.Expect(first.Message).To(ContainSubstring("(ControllerResizeInfeasible)"))
			g.Expect(first.Message).To(ContainSubstring(driverSays))
			retry := newestGrowth(history, data, retried, true)
			g.Expect(retry).NotTo(BeNil(), "no retry of %s to %s in history %+v", data, &retried, history)
			g.Expect(retry.From.Cmp(refused)).To(Equal(0), "retry %+v", *retry)
			GinkgoWriter.Printf("refused: %s\nretry: %s\n", first.Message, retry.Trigger)
		}).WithContext(ctx).WithTimeout(timeout(3 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		expectEvent(ctx, ns, data, "ResizeFailed")
		expectEvent(ctx, ns, data, "GrowthRetried")

		// The driver grants the smaller request, and the retry ends Succeeded,
		// the newest entry of the PVC; it was no new budget action.
		expectGrown(ctx, ns, primary, "data", data, retried.String(), 3*time.Minute)
		Eventually(func(g Gomega) {
			status := policy(ctx, g, ns, pg.Name).Status
			retry := newestGrowth(status.History, data, retried, true)
			g.Expect(retry).NotTo(BeNil())
			g.Expect(retry.Outcome).To(Equal(v1alpha1.OutcomeSucceeded), "%+v", *retry)
			for _, record := range status.History {
				if record.Time.After(retry.Time.Time) {
					g.Expect(record.PVCs).NotTo(ContainElement(data), "a growth after the retry: %+v", record)
				}
			}
			var toRefused, toRetried int
			for _, action := range status.Budget.Actions {
				if action.Role == v1alpha1.RoleData && action.To.Cmp(refused) == 0 {
					toRefused++
				}
				if action.Role == v1alpha1.RoleData && action.To.Cmp(retried) == 0 {
					toRetried++
				}
			}
			g.Expect([]int{toRefused, toRetried}).To(Equal([]int{1, 0}), "budget actions to %s and %s: %+v", &refused, &retried, status.Budget.Actions)
		}).WithContext(ctx).WithTimeout(timeout(time.Minute)).WithPolling(2 * time.Second).Should(Succeed())

		// Not caught up to the refused size, and no second retry.
		expectUnchanged(ctx, ns, data, retried.String(), 30*time.Second)
		Expect(requests.requests()).To(Or(
			Equal([]string{request.String(), refused.String(), retried.String()}),
			// The refused request may be lowered between two polls.
			Equal([]string{request.String(), retried.String()})), "every request %s had", data)
	})
})

// #13 alone on a cluster, and Serial: it kills the controller that every
// other spec's growths wait for.
var _ = Describe("controller killed", Ordered, Serial, Label("gate3"), func() {
	var (
		ns, primary string
		pg          *cnpgv1.Cluster
	)
	BeforeAll(func(ctx SpecContext) {
		pg, primary = managedCluster(ctx, framework.ClusterSpec{Name: "payroll"}, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			quick(&s.Volumes.Data)
			limit := resource.MustParse("8Gi")
			s.Volumes.Data.Limit = &limit
		})
		ns = pg.Namespace
	})

	It("#13 resumes a growth in flight after the controller restarts (no double growth)", func(ctx SpecContext) {
		// The PVC patch and the status write that records it are two API
		// calls: first the window between them, made as wide as an API error
		// makes it (the controller's status writes are refused), then kills
		// of the leading controller at random moments of three more growths
		// and right after each patch. Every request the PVC ever had is
		// logged, so a double growth cannot hide between two polls.
		data := primary
		requests := logRequests(ctx, ns, data)
		lift := refuseStatusWrites(ctx, ns)
		fill(ctx, ns, primary, "data", 62, 16, false)
		Eventually(func(g Gomega) {
			request, _ := pvcSize(ctx, g, ns, data)
			g.Expect(request.String()).To(Equal("2Gi"))
		}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(time.Second).Should(Succeed())
		Expect(policy(ctx, Default, ns, pg.Name).Status.History).To(BeEmpty(), "the status write was refused, yet the growth is in status")
		killed, err := killLeader(ctx)
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("killed leader %s between the PVC patch and the status write\n", killed)
		lift(ctx)
		expectGrown(ctx, ns, primary, "data", data, "2Gi", 3*time.Minute)

		k := startKiller(ctx, ns, data)
		for _, size := range []string{"3Gi", "4Gi", "5Gi"} {
			fill(ctx, ns, primary, "data", 62, 16, false)
			expectGrown(ctx, ns, primary, "data", data, size, 4*time.Minute)
		}
		k.finish(ctx, 20)
		all, afterPatch := k.count()
		GinkgoWriter.Printf("%d kills of the leading controller, %d right after a patch\n", all+1, afterPatch)
		Expect(afterPatch).To(BeNumerically(">=", 2), "kills right after a patch")
		expectUnchanged(ctx, ns, data, "5Gi", 30*time.Second)

		Expect(requests.requests()).To(Equal([]string{"1Gi", "2Gi", "3Gi", "4Gi", "5Gi"}), "every request %s ever had", data)
		Eventually(func(g Gomega) {
			status := policy(ctx, g, ns, pg.Name).Status
			g.Expect(status.History).To(HaveLen(4), "one history entry per growth: %+v", status.History)
			for i, to := range []string{"2Gi", "3Gi", "4Gi", "5Gi"} {
				g.Expect(status.History[i].Role).To(Equal(v1alpha1.RoleData))
				g.Expect(status.History[i].To.String()).To(Equal(to))
				g.Expect(status.History[i].Outcome).To(Equal(v1alpha1.OutcomeSucceeded))
			}
			g.Expect(status.Budget.Actions).To(HaveLen(4), "one budget action per growth: %+v", status.Budget.Actions)
		}).WithContext(ctx).WithTimeout(timeout(time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
	})
})

// newestGrowth is the newest history entry growing pvc to size, a retry or
// not; nil if none.
func newestGrowth(history []v1alpha1.GrowthRecord, pvc string, size resource.Quantity, retry bool) *v1alpha1.GrowthRecord {
	var newest *v1alpha1.GrowthRecord
	for index := range history {
		record := &history[index]
		if record.Retry == retry && record.To.Cmp(size) == 0 && slices.Contains(record.PVCs, pvc) &&
			(newest == nil || !record.Time.Before(&newest.Time)) {
			newest = record
		}
	}
	return newest
}

// annotatePVC sets an annotation on a PVC.
func annotatePVC(ctx SpecContext, ns, name, key, value string) {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, key, value)
	Expect(kube.Client.Patch(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}},
		client.RawPatch(types.MergePatchType, []byte(patch)))).To(Succeed())
}
