//go:build e2e

package suite

import (
	"context"
	"fmt"
	"strings"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/admission"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
)

type cnpgClusterList = cnpgv1.ClusterList

// newCluster creates a CNPG Cluster of the target's storage class and image,
// with WAL settings sized for its WAL volume (E2E.md).
func newCluster(ctx context.Context, ns, name string, instances int, walSize string) *cnpgv1.Cluster {
	return newClusterOf(ctx, framework.ClusterSpec{
		Name: name, Namespace: ns, Instances: instances, DataSize: "1Gi", WALSize: walSize,
	})
}

// newClusterOf creates a CNPG Cluster from spec, with the target's storage
// class and image.
func newClusterOf(ctx context.Context, spec framework.ClusterSpec) *cnpgv1.Cluster {
	spec.Image, spec.StorageClass = env.postgresImage, env.storageClass
	pg := framework.NewCluster(spec)
	Expect(kube.Client.Create(ctx, pg)).To(Succeed())
	return pg
}

// newPolicy builds a policy for cluster with the CRD defaults filled in;
// edit lets a spec change what it needs.
func newPolicy(ns, cluster string, edit func(*v1alpha1.StorageAutoscalePolicySpec)) *v1alpha1.StorageAutoscalePolicy {
	limit := func(s string) *resource.Quantity { q := resource.MustParse(s); return &q }
	p := &v1alpha1.StorageAutoscalePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: cluster, Namespace: ns},
		Spec: v1alpha1.StorageAutoscalePolicySpec{
			ClusterRef: v1alpha1.ClusterReference{Name: cluster},
			Volumes: v1alpha1.VolumesSpec{
				Data: v1alpha1.VolumePolicy{Limit: limit("4Gi")},
				WAL:  &v1alpha1.VolumePolicy{Limit: limit("4Gi")},
			},
		},
	}
	if edit != nil {
		edit(&p.Spec)
	}
	pinStepMax(&p.Spec)
	p.Spec.Default()
	return p
}

// pinStepMax bounds every rule's growth at 1Gi unless the spec set a max:
// a default policy sizes each growth for the fill rate (issue #21), which
// in a spec is the fill's chosen rate over a 5-minute cooldown and would
// make every asserted size depend on it. The specs prove what happens to
// sizes; make bench-sandbox measures the rate cover on the sandbox.
func pinStepMax(spec *v1alpha1.StorageAutoscalePolicySpec) {
	pin := func(rule *v1alpha1.VolumePolicy) {
		if rule != nil && rule.Step.Max.IsZero() {
			rule.Step.Max = resource.MustParse("1Gi")
		}
	}
	pin(&spec.Volumes.Data)
	pin(spec.Volumes.WAL)
	if ts := spec.Volumes.Tablespaces; ts != nil {
		pin(ts.Default)
		for name, rule := range ts.ByName {
			pin(&rule)
			ts.ByName[name] = rule
		}
	}
}

// quick makes a rule grow at 60 % with a 20 s cooldown: fills stay short
// and a spec's growths need not wait minutes for each other.
func quick(rule *v1alpha1.VolumePolicy) {
	rule.Trigger.UsedPercent = 60
	rule.Cooldown = metav1.Duration{Duration: 20 * time.Second}
}

func waitReady(ctx context.Context, pg *cnpgv1.Cluster) {
	Expect(kube.WaitClusterReady(ctx, pg, timeout(6*time.Minute))).To(Succeed())
}

// policy reads the policy of a cluster (the suite names policies after their
// cluster).
func policy(ctx context.Context, g Gomega, ns, name string) *v1alpha1.StorageAutoscalePolicy {
	p := &v1alpha1.StorageAutoscalePolicy{}
	g.Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p)).To(Succeed())
	return p
}

// editPolicy changes a policy's spec, retrying on conflicts with the
// controller's status writes.
func editPolicy(ctx context.Context, ns, name string, edit func(*v1alpha1.StorageAutoscalePolicySpec)) {
	Expect(updatePolicy(ctx, ns, name, edit)).To(Succeed())
}

// updatePolicy is editPolicy that returns the API server's answer.
func updatePolicy(ctx context.Context, ns, name string, edit func(*v1alpha1.StorageAutoscalePolicySpec)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p := &v1alpha1.StorageAutoscalePolicy{}
		if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
			return err
		}
		edit(&p.Spec)
		return kube.Client.Update(ctx, p)
	})
}

// patchCluster applies a JSON merge patch to a CNPG Cluster.
func patchCluster(ctx context.Context, pg *cnpgv1.Cluster, patch string) {
	Expect(kube.Client.Patch(ctx, &cnpgv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: pg.Namespace, Name: pg.Name}},
		client.RawPatch(types.MergePatchType, []byte(patch)))).To(Succeed())
}

// volumeRow is the policy's status row of one PVC.
func volumeRow(ctx context.Context, g Gomega, ns, policyName, pvc string) v1alpha1.VolumeStatus {
	rows := policy(ctx, g, ns, policyName).Status.Volumes
	g.Expect(rows).To(ContainElement(HaveField("PVC", pvc)), "policy %s has no status row for PVC %s", policyName, pvc)
	for _, row := range rows {
		if row.PVC == pvc {
			return row
		}
	}
	return v1alpha1.VolumeStatus{}
}

// condition is the status of one of the policy's conditions ("" if unset).
func condition(ctx context.Context, g Gomega, ns, policyName, conditionType string) metav1.Condition {
	if c := meta.FindStatusCondition(policy(ctx, g, ns, policyName).Status.Conditions, conditionType); c != nil {
		return *c
	}
	return metav1.Condition{Type: conditionType}
}

// pvcSize reads a PVC's request and capacity.
func pvcSize(ctx context.Context, g Gomega, ns, name string) (request, capacity resource.Quantity) {
	pvc := &corev1.PersistentVolumeClaim{}
	g.Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pvc)).To(Succeed())
	return *pvc.Spec.Resources.Requests.Storage(), *pvc.Status.Capacity.Storage()
}

// expectGrown waits until a PVC is requested and provisioned at size, and
// the filesystem inside the instance shows it (df).
func expectGrown(ctx context.Context, ns, pod, volume, pvc, size string, within time.Duration) {
	want := resource.MustParse(size)
	Eventually(func(g Gomega) {
		request, capacity := pvcSize(ctx, g, ns, pvc)
		g.Expect(request.Cmp(want)).To(Equal(0), func() string {
			return fmt.Sprintf("PVC %s request %s, want %s; %s", pvc, &request, size, whyNotGrown(ctx, ns, pod, pvc))
		})
		g.Expect(capacity.Cmp(want)).To(Equal(0), "PVC %s capacity %s, want %s", pvc, &capacity, size)
	}).WithContext(ctx).WithTimeout(timeout(within)).WithPolling(2 * time.Second).Should(Succeed())
	// kubelet grows a running pod's filesystem on its next sync (or the
	// add-on's nudge); the filesystem keeps a few percent for itself.
	Eventually(func(g Gomega) {
		usage, err := kube.VolumeUsage(ctx, ns, pod, volume)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(usage.SizeBytes).To(BeNumerically(">", want.Value()*88/100), "df of %s inside %s", volume, pod)
	}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
}

// whyNotGrown is what the add-on says of a PVC that has not grown yet: its
// policy's row and the age of the instance's observation, so that a failure
// names the gate rather than only the size.
func whyNotGrown(ctx context.Context, ns, pod, pvc string) string {
	claim := &corev1.PersistentVolumeClaim{}
	if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: pvc}, claim); err != nil {
		return err.Error()
	}
	var why []string
	p := &v1alpha1.StorageAutoscalePolicy{}
	if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: claim.Labels["cnpg.io/cluster"]}, p); err != nil {
		why = append(why, "policy: "+err.Error())
	}
	for _, row := range p.Status.Volumes {
		if row.PVC == pvc {
			why = append(why, fmt.Sprintf("policy row: %s/%s %.1f%% used: %s", row.State, row.Gate, row.UsedPercent, row.Reason))
		}
	}
	obs := &v1alpha1.StorageObservation{}
	switch err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: pod}, obs); {
	case err != nil:
		why = append(why, "observation: "+err.Error())
	case obs.Status.ObservedAt != nil:
		why = append(why, fmt.Sprintf("observation of %s %s old", pod, time.Since(obs.Status.ObservedAt.Time).Round(time.Second)))
	}
	return strings.Join(why, "; ")
}

// expectUnchanged checks a PVC's request for a while: nothing patches it.
func expectUnchanged(ctx context.Context, ns, pvc, size string, during time.Duration) {
	want := resource.MustParse(size)
	Consistently(func(g Gomega) {
		request, _ := pvcSize(ctx, g, ns, pvc)
		g.Expect(request.Cmp(want)).To(Equal(0), "PVC %s request %s, want it left at %s", pvc, &request, size)
	}).WithContext(ctx).WithTimeout(during).WithPolling(2 * time.Second).Should(Succeed())
}

// fill fills a volume of an instance to percent at rateMiB MiB/s, through
// PostgreSQL or, raw, with dd. It stops early when the volume grows under
// it, so that each fill causes at most one growth.
func fill(ctx context.Context, ns, pod, volume string, percent float64, rateMiB int64, raw bool) {
	Expect(kube.Fill(ctx, fillSpec(ns, pod, volume, percent, rateMiB, raw), GinkgoWriter)).To(Succeed())
}

func fillSpec(ns, pod, volume string, percent float64, rateMiB int64, raw bool) framework.FillSpec {
	return framework.FillSpec{
		Namespace: ns, Pod: pod, Volume: volume, RateBytesPerSecond: rateMiB << 20, UntilPercent: percent,
		Raw: raw, StopWhenGrown: true,
	}
}

// fillBehind starts fill in the background and returns what stops it: a
// spec that must watch the volume while it fills (a growth in flight, 8 s
// long, that a growth decided before the trigger, at the fill's latest
// rate, may begin and end before a blocking fill returns). stop cancels a
// fill still going and waits for it; only an error of a fill it did not
// cancel fails the spec.
func fillBehind(ctx context.Context, ns, pod, volume string, percent float64, rateMiB int64, raw bool) (stop func()) {
	fillCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		defer GinkgoRecover()
		done <- kube.Fill(fillCtx, fillSpec(ns, pod, volume, percent, rateMiB, raw), GinkgoWriter)
	}()
	return func() {
		cancel()
		err := <-done
		Expect(err == nil || fillCtx.Err() != nil).To(BeTrue(), "fill %s of %s: %v", volume, pod, err)
	}
}

// managedCluster makes a namespace with a CNPG Cluster of spec (1Gi data and
// WAL unless spec says otherwise) and its policy, and waits until the
// Cluster is ready. The policy exists before CNPG creates the first
// instance pod (after its initdb job), so that pod has the sidecar.
func managedCluster(ctx SpecContext, spec framework.ClusterSpec, edit func(*v1alpha1.StorageAutoscalePolicySpec)) (pg *cnpgv1.Cluster, primary string) {
	spec.Namespace = newNamespace(ctx)
	if spec.Instances == 0 {
		spec.Instances = 1
	}
	if spec.DataSize == "" {
		spec.DataSize = "1Gi"
	}
	if spec.WALSize == "" {
		spec.WALSize = "1Gi"
	}
	pg = newClusterOf(ctx, spec)
	Expect(kube.Client.Create(ctx, newPolicy(pg.Namespace, pg.Name, edit))).To(Succeed())
	waitReady(ctx, pg)
	primary, err := kube.PrimaryPod(ctx, pg)
	Expect(err).NotTo(HaveOccurred())
	return pg, primary
}

// expectObserved checks an instance pod carries the sidecar and that its
// observation appears, with PostgreSQL reached.
func expectObserved(ctx SpecContext, pod *corev1.Pod) {
	Expect(pod.Spec.InitContainers).To(ContainElement(HaveField("Name", admission.SidecarName)), "pod %s", pod.Name)
	Eventually(func(g Gomega) {
		obs := observation(ctx, g, pod.Namespace, pod.Name)
		g.Expect(obs.Spec.PodUID).To(Equal(string(pod.UID)))
		g.Expect(obs.Status.Volumes).To(ContainElements(
			HaveField("Role", v1alpha1.RoleData), HaveField("Role", v1alpha1.RoleWAL)))
		g.Expect(obs.Status.Postgres.Reachable).To(BeTrue(), "postgres: %s", obs.Status.Postgres.Reason)
		g.Expect(obs.Status.Postgres.Archiving).NotTo(BeNil())
	}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
}

// expectEvent waits for an Event with reason on the named object.
func expectEvent(ctx SpecContext, ns, object, reason string) {
	Eventually(func(g Gomega) {
		events := &corev1.EventList{}
		g.Expect(kube.Client.List(ctx, events, client.InNamespace(ns))).To(Succeed())
		g.Expect(events.Items).To(ContainElement(And(
			HaveField("InvolvedObject.Name", object), HaveField("Reason", reason))))
	}).WithContext(ctx).WithTimeout(timeout(time.Minute)).WithPolling(2 * time.Second).Should(Succeed())
}

// observation reads an instance's StorageObservation.
func observation(ctx SpecContext, g Gomega, ns, instance string) *v1alpha1.StorageObservation {
	obs := &v1alpha1.StorageObservation{}
	g.Expect(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: instance}, obs)).To(Succeed(), "observation of %s", instance)
	return obs
}
