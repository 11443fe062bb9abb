//go:build e2e

package suite

import (
	"fmt"
	"strings"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
)

var _ = Describe("#1 validation", Label("gate1"), func() {
	It("rejects invalid policies with a clear message", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		// Two clusters without a WAL volume (the webhook reads their specs;
		// they need not be ready), and a first policy for one of them.
		single := newCluster(ctx, ns, "single", 1, "")
		newCluster(ctx, ns, "lonely", 1, "")
		Expect(kube.Client.Create(ctx, newPolicy(ns, single.Name, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			s.Volumes.WAL = nil
			s.WALSafety.AcknowledgeSingleVolume = true
		}))).To(Succeed())

		base := fmt.Sprintf("apiVersion: pgstorage.io/v1alpha1\nkind: StorageAutoscalePolicy\nmetadata: {name: bad, namespace: %s}\nspec:\n  clusterRef: {name: other}\n  volumes:\n    data: {limit: 4Gi}\n", ns)
		cases := []struct{ what, yaml, message string }{
			{"a percentage above 99", strings.Replace(base, "{limit: 4Gi}", "{limit: 4Gi, trigger: {usedPercent: 120}}", 1),
				"trigger.usedPercent must be a whole percentage between 1 and 99"},
			{"critical not above trigger", strings.Replace(base, "{limit: 4Gi}", "{limit: 4Gi, trigger: {usedPercent: 90}, critical: {usedPercent: 85}}", 1),
				"critical.usedPercent must be greater than trigger.usedPercent"},
			{"no data limit", strings.Replace(base, "{limit: 4Gi}", "{trigger: {usedPercent: 80}}", 1),
				"spec.volumes.data.limit is required"},
			{"a cron schedule with four fields", base + "  maintenanceWindows: [{schedule: \"0 2 * *\", duration: 1h}]\n",
				"schedule must be a cron expression with five fields"},
			{"a cron schedule that does not parse", base + "  maintenanceWindows: [{schedule: \"0 25 * * *\", duration: 1h}]\n",
				"schedule"},
			{"a single-volume cluster without the acknowledgement",
				strings.Replace(strings.Replace(base, "name: bad", "name: lonely", 1), "{name: other}", "{name: lonely}", 1),
				"spec.walSafety.acknowledgeSingleVolume is false, but cluster lonely has no separate WAL volume"},
			{"a second policy for one cluster",
				strings.Replace(strings.Replace(base, "name: bad", "name: second", 1), "{name: other}", "{name: single}", 1) +
					"  walSafety: {acknowledgeSingleVolume: true}\n",
				"cluster single already has StorageAutoscalePolicy single"},
		}
		for _, c := range cases {
			u := &unstructured.Unstructured{}
			Expect(yaml.Unmarshal([]byte(c.yaml), &u.Object)).To(Succeed())
			err := kube.Client.Create(ctx, u)
			Expect(err).To(HaveOccurred(), "%s was accepted", c.what)
			Expect(err.Error()).To(ContainSubstring(c.message), "%s", c.what)
			GinkgoWriter.Printf("%s → %v\n", c.what, err)
		}
	})
})

var _ = Describe("basic growth", Ordered, Label("gate1"), func() {
	var (
		ns      string
		pg      *cnpgv1.Cluster
		primary string
	)
	BeforeAll(func(ctx SpecContext) {
		pg, primary = managedCluster(ctx, framework.ClusterSpec{Name: "orders"}, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			quick(&s.Volumes.Data)
		})
		ns = pg.Namespace
	})

	It("#2 injects the sidecar into every instance pod and an observation appears for each", func(ctx SpecContext) {
		pods := &corev1.PodList{}
		Expect(kube.Client.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{"cnpg.io/podRole": "instance"})).To(Succeed())
		Expect(pods.Items).To(HaveLen(pg.Spec.Instances))
		for _, pod := range pods.Items {
			expectObserved(ctx, &pod)
		}
	})

	It("#3 grows the data volume when usage crosses the trigger, to the computed target", func(ctx SpecContext) {
		fill(ctx, ns, primary, "data", 62, 16, false)
		// 1Gi at ~62 %: capacity + 20 % step (at least 1Gi) is 2Gi, more than
		// what 25 % free needs; rounded to 1 GiB, under the 4Gi limit.
		expectGrown(ctx, ns, primary, "data", primary, "2Gi", 3*time.Minute)

		Expect(policy(ctx, Default, ns, pg.Name).Status.History).To(ContainElement(And(
			HaveField("Role", v1alpha1.RoleData),
			HaveField("Kind", v1alpha1.GrowthPlanned),
			HaveField("Trigger", ContainSubstring("usedPercent")),
			HaveField("To", BeComparableTo(resource.MustParse("2Gi"))),
		)))
		expectEvent(ctx, ns, primary, "Growing")
	})

	It("#4 respects the limit and reports LimitReached instead of growing past it", func(ctx SpecContext) {
		// The next growth would be to 3Gi (2Gi + the 1Gi step); the limit
		// caps it at 2.5Gi, and then there is nothing left to grow.
		editPolicy(ctx, ns, pg.Name, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			limit := resource.MustParse("2560Mi")
			s.Volumes.Data.Limit = &limit
		})
		fill(ctx, ns, primary, "data", 62, 16, false)
		expectGrown(ctx, ns, primary, "data", primary, "2560Mi", 3*time.Minute)

		fill(ctx, ns, primary, "data", 62, 16, false)
		Eventually(func(g Gomega) {
			limited := condition(ctx, g, ns, pg.Name, v1alpha1.ConditionLimitReached)
			g.Expect(limited.Status).To(Equal(metav1.ConditionTrue), "LimitReached: %s", limited.Message)
			row := volumeRow(ctx, g, ns, pg.Name, primary)
			g.Expect(row.State).To(Equal(v1alpha1.VolumeAtLimit))
			g.Expect(row.Reason).To(ContainSubstring("at limit 2.5Gi"))
			GinkgoWriter.Printf("%s: %s\n", row.PVC, row.Reason)
		}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
		expectUnchanged(ctx, ns, primary, "2560Mi", 30*time.Second)
	})

	It("#5 a new replica's PVC is created at the effective size (PVC webhook)", func(ctx SpecContext) {
		sizes := policy(ctx, Default, ns, pg.Name).Status.EffectiveSizes
		Expect(sizes.Data).To(HaveValue(BeComparableTo(resource.MustParse("2560Mi"))))
		// The Cluster still asks for 1Gi: the add-on grew the PVCs, not the
		// Cluster's spec (syncClusterSpec is off), so CNPG creates the new
		// replica's PVCs at 1Gi and the PVC webhook raises them.
		patchCluster(ctx, pg, `{"spec":{"instances":2}}`)
		scaled := pg.DeepCopy()
		scaled.Spec.Instances = 2
		waitReady(ctx, scaled)

		pods := &corev1.PodList{}
		Expect(kube.Client.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{"cnpg.io/podRole": "instance"})).To(Succeed())
		Expect(pods.Items).To(HaveLen(2))
		for _, pod := range pods.Items {
			if pod.Name == primary {
				continue
			}
			request, _ := pvcSize(ctx, Default, ns, pod.Name)
			Expect(request.Cmp(resource.MustParse("2560Mi"))).To(Equal(0), "new data PVC %s request %s", pod.Name, &request)
			request, _ = pvcSize(ctx, Default, ns, pod.Name+cnpgv1.WalArchiveVolumeSuffix)
			Expect(request.Cmp(resource.MustParse("1Gi"))).To(Equal(0), "new WAL PVC %s-wal request %s", pod.Name, &request)
			expectObserved(ctx, &pod)
			usage, err := kube.VolumeUsage(ctx, ns, pod.Name, "data")
			Expect(err).NotTo(HaveOccurred())
			Expect(usage.SizeBytes).To(BeNumerically(">", int64(2200)<<20), "df of the new replica's data volume")
		}
	})
})
