package admission

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv/cnpgtest"
)

// failurePolicy: Ignore does not protect the mutated pod from the
// namespace's own admission: Pod Security and a ResourceQuota on limits
// judge the pod with the sidecar in it.
func TestMutatedPodPassesRestrictedPodSecurityAndLimitQuota(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	ns := env.NewNamespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	hard := corev1.ResourceList{
		corev1.ResourceLimitsCPU: resource.MustParse("10"), corev1.ResourceLimitsMemory: resource.MustParse("10Gi"),
		corev1.ResourceRequestsCPU: resource.MustParse("10"), corev1.ResourceRequestsMemory: resource.MustParse("10Gi"),
	}
	quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: ns}, Spec: corev1.ResourceQuotaSpec{Hard: hard}}
	must(t, c.Create(ctx, quota))
	// envtest runs no quota controller: write the status it would write.
	quota.Status = corev1.ResourceQuotaStatus{Hard: hard, Used: corev1.ResourceList{
		corev1.ResourceLimitsCPU: resource.MustParse("0"), corev1.ResourceLimitsMemory: resource.MustParse("0"),
		corev1.ResourceRequestsCPU: resource.MustParse("0"), corev1.ResourceRequestsMemory: resource.MustParse("0"),
	}}
	must(t, c.Status().Update(ctx, quota))

	shape := cnpgtest.Shape{WAL: true, Limits: true}
	must(t, c.Create(ctx, cnpgtest.NewCluster(ns, "orders", shape)))
	must(t, c.Create(ctx, cnpgtest.NewPolicy(ns, "orders", "orders", shape)))
	pod := cnpgtest.InstancePod(t, cnpgtest.NewCluster(ns, "orders", shape))
	must(t, c.Create(ctx, pod))
	if got := getPod(t, ns, pod.Name); !HasSidecar(got) {
		t.Fatalf("pod admitted without the sidecar: %v", containerNames(got.Spec.InitContainers))
	}

	// The controls: the same namespace rejects what the sidecar avoids.
	noLimits := cnpgtest.InstancePod(t, cnpgtest.NewCluster(ns, "orders", shape))
	noLimits.Name, noLimits.Labels = "no-limits", nil
	noLimits.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
	if err := c.Create(ctx, noLimits); err == nil || !strings.Contains(err.Error(), "limits") {
		t.Errorf("a container without limits was admitted (%v): the quota does not bite", err)
	}
	privileged := cnpgtest.InstancePod(t, cnpgtest.NewCluster(ns, "orders", shape))
	privileged.Name, privileged.Labels = "escalating", nil
	privileged.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
	if err := c.Create(ctx, privileged); err == nil || !strings.Contains(err.Error(), "restricted") {
		t.Errorf("a pod allowing privilege escalation was admitted (%v): Pod Security does not bite", err)
	}
}

func TestNewPVCStartsAtTheEffectiveSize(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	ns := env.NewNamespace(t, nil)
	shape := cnpgtest.Shape{WAL: true, Tablespaces: []string{"idx"}}
	must(t, c.Create(ctx, cnpgtest.NewCluster(ns, "orders", shape)))
	policy := cnpgtest.NewPolicy(ns, "orders", "orders", shape)
	must(t, c.Create(ctx, policy))
	// The policy reconciler writes these; here the test does.
	policy.Status.EffectiveSizes.Data = ptr.To(resource.MustParse("3Gi"))
	policy.Status.EffectiveSizes.WAL = ptr.To(resource.MustParse("2Gi"))
	policy.Status.EffectiveSizes.Tablespaces = map[string]resource.Quantity{"idx": resource.MustParse("4Gi")}
	must(t, c.Status().Update(ctx, policy))

	cases := []struct {
		name, pvc, role, tablespace, request, want string
	}{
		{"a new data PVC is raised to the effective data size", "orders-2", pvcRoleData, "", "1Gi", "3Gi"},
		{"a new WAL PVC is raised to the effective WAL size", "orders-2-wal", pvcRoleWAL, "", "1Gi", "2Gi"},
		{"a tablespace PVC is raised to its tablespace's size", "orders-2-tbs-idx", pvcRoleTablespace, "idx", "1Gi", "4Gi"},
		{"a tablespace without an effective size keeps its request", "orders-2-tbs-new", pvcRoleTablespace, "new", "1Gi", "1Gi"},
		{"a request above the effective size is never lowered", "orders-3", pvcRoleData, "", "8Gi", "8Gi"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			labels := map[string]string{clusterLabel: "orders", pvcRoleLabel: tc.role, instanceNameLabel: "orders-2"}
			if tc.tablespace != "" {
				labels[tablespaceNameLabel] = tc.tablespace
			}
			pvc := cnpgPVC(ns, tc.pvc, labels, tc.request)
			must(t, c.Create(ctx, pvc))
			if got := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != tc.want {
				t.Errorf("request %s, want %s", got.String(), tc.want)
			}
		})
	}
}

func cnpgPVC(namespace, name string, labels map[string]string, request string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(request)}},
		},
	}
}
