//go:build e2e

package suite

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
)

// One cluster through three topologies (#21–#23): a lone primary, then one
// replica, then three. Fills are raw files beside PGDATA, so that a new
// replica's base backup stays small.
var _ = Describe("topology", Ordered, Label("gate4"), func() {
	var (
		ns, primary string
		pg          *cnpgv1.Cluster
	)
	BeforeAll(func(ctx SpecContext) {
		pg, primary = managedCluster(ctx, framework.ClusterSpec{Name: "inventory"}, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			quick(&s.Volumes.Data)
			limit := resource.MustParse("8Gi")
			s.Volumes.Data.Limit = &limit
		})
		ns = pg.Namespace
	})

	It("#21 a cluster with no replicas", func(ctx SpecContext) {
		fill(ctx, ns, primary, "data", 62, 32, true)
		expectGrown(ctx, ns, primary, "data", primary, "2Gi", 3*time.Minute)
		status := policy(ctx, Default, ns, pg.Name).Status
		Expect(status.History).To(ConsistOf(And(HaveField("PVCs", ConsistOf(primary)),
			HaveField("To", BeComparableTo(resource.MustParse("2Gi"))))))
		Expect(status.EffectiveSizes.Data).To(HaveValue(BeComparableTo(resource.MustParse("2Gi"))))
		Expect(volumeRow(ctx, Default, ns, pg.Name, primary+cnpgv1.WalArchiveVolumeSuffix).State).To(Equal(v1alpha1.VolumeIdle))
	})

	It("#22 a cluster with one replica", func(ctx SpecContext) {
		instances := scaleCluster(ctx, pg, 2)
		replicas := without(instances, primary)
		Expect(replicas).To(HaveLen(1))
		expectSizes(ctx, ns, replicas, "2Gi") // created at the effective size
		fill(ctx, ns, primary, "data", 62, 32, true)
		for _, pvc := range instances {
			expectGrown(ctx, ns, pvc, "data", pvc, "3Gi", 3*time.Minute)
		}
		history := policy(ctx, Default, ns, pg.Name).Status.History
		Expect(history).To(HaveLen(2))
		Expect(history[1].PVCs).To(ConsistOf(instances), "one growth of the role, both PVCs")
	})

	It("#23 a cluster with several replicas grows all to one size, and does not touch PVCs already at it", func(ctx SpecContext) {
		instances := scaleCluster(ctx, pg, 4)
		replicas := without(instances, primary)
		Expect(replicas).To(HaveLen(3))
		expectSizes(ctx, ns, replicas, "3Gi")

		By("a human grows one replica's volume to 4Gi: the others are raised to it, that one is left alone")
		// The newest replica: made at 3Gi by the PVC webhook, never
		// patched by the add-on.
		sort.Strings(replicas)
		human := replicas[len(replicas)-1]
		humanPatch := `{"spec":{"resources":{"requests":{"storage":"4Gi"}}}}`
		Expect(kube.Client.Patch(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: human}},
			client.RawPatch(types.MergePatchType, []byte(humanPatch)), client.FieldOwner("e2e-human"))).To(Succeed())
		expectGrown(ctx, ns, human, "data", human, "4Gi", 3*time.Minute)
		settled := settledPVC(ctx, ns, human)
		for _, pvc := range without(instances, human) {
			expectGrown(ctx, ns, pvc, "data", pvc, "4Gi", 3*time.Minute)
		}
		manager := growthManager(ctx, ns, primary)
		after := &corev1.PersistentVolumeClaim{}
		Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: human}, after)).To(Succeed())
		Expect(after.ResourceVersion).To(Equal(settled.ResourceVersion), "PVC %s, already at 4Gi, was written while the others were raised", human)
		for _, entry := range after.ManagedFields {
			Expect(entry.Manager).NotTo(Equal(manager), "PVC %s, already at 4Gi, was patched by the add-on", human)
		}

		By("a growth of the role: all four to one size")
		editPolicy(ctx, ns, pg.Name, func(s *v1alpha1.StorageAutoscalePolicySpec) { s.Volumes.Data.Trigger.UsedPercent = 35 })
		fill(ctx, ns, primary, "data", 37, 32, true)
		for _, pvc := range instances {
			expectGrown(ctx, ns, pvc, "data", pvc, "5Gi", 3*time.Minute)
		}
		status := policy(ctx, Default, ns, pg.Name).Status
		Expect(status.History[len(status.History)-1].PVCs).To(ConsistOf(instances))
		Expect(status.EffectiveSizes.Data).To(HaveValue(BeComparableTo(resource.MustParse("5Gi"))))
	})
})

// scaleCluster sets the CNPG Cluster's instances, waits until all are ready
// and returns the instance pods' names (each is also its data PVC's name).
func scaleCluster(ctx context.Context, pg *cnpgv1.Cluster, instances int) []string {
	patchCluster(ctx, pg, fmt.Sprintf(`{"spec":{"instances":%d}}`, instances))
	scaled := pg.DeepCopy()
	scaled.Spec.Instances = instances
	waitReady(ctx, scaled)
	pods := &corev1.PodList{}
	Expect(kube.Client.List(ctx, pods, client.InNamespace(pg.Namespace),
		client.MatchingLabels{"cnpg.io/cluster": pg.Name, "cnpg.io/podRole": "instance"})).To(Succeed())
	var names []string
	for _, pod := range pods.Items {
		names = append(names, pod.Name)
	}
	Expect(names).To(HaveLen(instances))
	return names
}

func without(names []string, name string) []string {
	var out []string
	for _, n := range names {
		if n != name {
			out = append(out, n)
		}
	}
	return out
}

// expectSizes checks that the data PVCs are requested at size.
func expectSizes(ctx context.Context, ns string, pvcs []string, size string) {
	for _, pvc := range pvcs {
		request, _ := pvcSize(ctx, Default, ns, pvc)
		Expect(request.String()).To(Equal(size), "data PVC %s", pvc)
	}
}

// settledPVC waits until nothing is left to do for a PVC's resize (no
// condition, no allocated resource status) and returns it.
func settledPVC(ctx context.Context, ns, name string) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{}
	Eventually(func(g Gomega) {
		g.Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pvc)).To(Succeed())
		g.Expect(pvc.Status.Conditions).To(BeEmpty())
		g.Expect(pvc.Status.AllocatedResourceStatuses).To(BeEmpty())
	}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(time.Second).Should(Succeed())
	return pvc
}

// growthManager is the field manager the add-on's growth patches carry:
// the one that owns the growth-record annotation on a PVC it grew.
func growthManager(ctx context.Context, ns, grown string) string {
	pvc := &corev1.PersistentVolumeClaim{}
	Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: grown}, pvc)).To(Succeed())
	for _, entry := range pvc.ManagedFields {
		if entry.FieldsV1 != nil && strings.Contains(entry.FieldsV1.GetRawString(), "pgstorage.io/last-growth") {
			return entry.Manager
		}
	}
	Fail(fmt.Sprintf("PVC %s has no manager of its pgstorage.io/last-growth annotation: %+v", grown, pvc.ManagedFields))
	return ""
}
