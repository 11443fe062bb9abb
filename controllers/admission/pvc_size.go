package admission

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// EffectiveSize is the size a new PVC of the policy's cluster starts at:
// the policy's status.effectiveSizes for the PVC's role (tablespaces by
// name), when that is larger than what CNPG asked for. ok is false when the
// request stays as it is, and reason says why either way.
//
// It only ever raises: a new replica or a re-created instance then starts
// at the size its peers were grown to, instead of filling up at once and
// being grown right after.
func EffectiveSize(pvc *corev1.PersistentVolumeClaim, policy *v1alpha1.StorageAutoscalePolicy) (size resource.Quantity, ok bool, reason string) {
	if policy == nil {
		return size, false, "the cluster has no StorageAutoscalePolicy"
	}
	sizes := policy.Status.EffectiveSizes
	var effective *resource.Quantity
	role := pvc.Labels[pvcRoleLabel]
	switch role {
	case pvcRoleData:
		effective = sizes.Data
	case pvcRoleWAL:
		effective = sizes.WAL
	case pvcRoleTablespace:
		if q, found := sizes.Tablespaces[pvc.Labels[tablespaceNameLabel]]; found {
			effective = &q
		}
	default:
		return size, false, fmt.Sprintf("unknown PVC role %q", role)
	}
	if effective == nil || effective.IsZero() {
		return size, false, fmt.Sprintf("policy %s has no effective size for %s yet", policy.Name, role)
	}
	requested := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if effective.Cmp(requested) <= 0 {
		return size, false, fmt.Sprintf("the request %s is at least the effective size %s", requested.String(), effective.String())
	}
	return effective.DeepCopy(), true, fmt.Sprintf("raised from %s to the effective size %s of policy %s",
		requested.String(), effective.String(), policy.Name)
}
