package admission

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// EffectiveSize is the size a new PVC of the policy's cluster starts at.
// ok is false when the request stays as it is, and reason says why either way.
//
// It only ever raises, never past the role's limit, and only when the
// policy may patch (Enforce: in DryRun nothing is changed, here neither):
//
//   - Uniform: the policy's status.effectiveSizes for the PVC's role
//     (tablespaces by name). A new replica then starts at the size its peers
//     were grown to, instead of filling up at once and being grown right after.
//   - PerInstance: each instance has its own size, so a peer's size says
//     nothing about a new instance. Only a PVC the policy already knows by
//     name (a row of status.volumes, left by the PVC this one replaces) gets
//     that row's request back; any other new PVC keeps CNPG's request and
//     is grown on its own usage.
func EffectiveSize(pvc *corev1.PersistentVolumeClaim, policy *v1alpha1.StorageAutoscalePolicy) (size resource.Quantity, ok bool, reason string) {
	if policy == nil {
		return size, false, "the cluster has no StorageAutoscalePolicy"
	}
	if policy.Spec.Mode == v1alpha1.ModeDryRun {
		return size, false, fmt.Sprintf("policy %s is in DryRun: new PVCs keep the size CNPG asks for", policy.Name)
	}
	role, tablespace, known := volumeRole(pvc)
	if !known {
		return size, false, fmt.Sprintf("unknown PVC role %q", pvc.Labels[pvcRoleLabel])
	}
	path, rule := policy.Spec.Volumes.RuleFor(role, tablespace)
	switch {
	case rule == nil:
		return size, false, fmt.Sprintf("policy %s has no rule for %s volumes (%s)", policy.Name, role, path)
	case !rule.GrowthEnabled():
		return size, false, fmt.Sprintf("policy %s has growth of %s volumes disabled (%s.enabled)", policy.Name, role, path)
	case rule.Limit == nil || rule.Limit.Sign() <= 0:
		return size, false, fmt.Sprintf("policy %s has no limit for %s volumes (%s.limit)", policy.Name, role, path)
	}

	var target *resource.Quantity
	source := "the effective size"
	if policy.Spec.Sizing == v1alpha1.SizingPerInstance {
		target = recordedRequest(policy.Status.Volumes, pvc.Name, role, tablespace)
		if target == nil {
			return size, false, fmt.Sprintf("policy %s sizes PerInstance and has no recorded size for PVC %s: it starts at the size CNPG asks for",
				policy.Name, pvc.Name)
		}
		source = "its own recorded size (PerInstance)"
	} else {
		target = effectiveFor(policy.Status.EffectiveSizes, role, tablespace)
		if target == nil || target.IsZero() {
			return size, false, fmt.Sprintf("policy %s has no effective size for %s yet", policy.Name, role)
		}
	}
	to := target.DeepCopy()
	if to.Cmp(*rule.Limit) > 0 {
		to = rule.Limit.DeepCopy()
		source = fmt.Sprintf("the limit %s (%s.limit; %s is %s)", rule.Limit.String(), path, source, target.String())
	}
	requested := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if to.Cmp(requested) <= 0 {
		return size, false, fmt.Sprintf("the request %s is at least %s %s", requested.String(), source, to.String())
	}
	return to, true, fmt.Sprintf("raised from %s to %s %s of policy %s", requested.String(), source, to.String(), policy.Name)
}

// volumeRole maps CNPG's PVC role label to the policy's volume role.
func volumeRole(pvc *corev1.PersistentVolumeClaim) (role v1alpha1.VolumeRole, tablespace string, known bool) {
	switch pvc.Labels[pvcRoleLabel] {
	case pvcRoleData:
		return v1alpha1.RoleData, "", true
	case pvcRoleWAL:
		return v1alpha1.RoleWAL, "", true
	case pvcRoleTablespace:
		return v1alpha1.RoleTablespace, pvc.Labels[tablespaceNameLabel], true
	}
	return "", "", false
}

func effectiveFor(sizes v1alpha1.EffectiveSizes, role v1alpha1.VolumeRole, tablespace string) *resource.Quantity {
	switch role {
	case v1alpha1.RoleData:
		return sizes.Data
	case v1alpha1.RoleWAL:
		return sizes.WAL
	case v1alpha1.RoleTablespace:
		if q, found := sizes.Tablespaces[tablespace]; found {
			return &q
		}
	}
	return nil
}

// recordedRequest is the request status.volumes last recorded for the PVC
// of that name and role.
func recordedRequest(rows []v1alpha1.VolumeStatus, name string, role v1alpha1.VolumeRole, tablespace string) *resource.Quantity {
	for i := range rows {
		row := &rows[i]
		if row.PVC == name && row.Role == role && row.Tablespace == tablespace && row.Requested != nil && !row.Requested.IsZero() {
			return row.Requested
		}
	}
	return nil
}
