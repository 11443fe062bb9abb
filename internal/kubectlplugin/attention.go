package kubectlplugin

import (
	"k8s.io/apimachinery/pkg/api/meta"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// What needs attention (exit code 3): whatever will not get better without
// a human. A cooldown, a spent budget or a closed maintenance window lift
// by themselves; a limit, a dead probe sidecar, a refused resize, a
// failing archive or a class that cannot expand do not.

// volumeNeedsAttention reads one PVC's state and gate (status.volumes or
// the planner's row).
func volumeNeedsAttention(state v1alpha1.VolumeState, gate string) bool {
	switch state {
	case v1alpha1.VolumeAtLimit, v1alpha1.VolumeStale:
		return true
	case v1alpha1.VolumeBlocked:
		switch plan.Gate(gate) {
		case plan.GateCooldown, plan.GateBudget, plan.GateDryRun:
			return false
		}
		return true
	}
	return false
}

// policyAttentionConditions are the conditions that, when true, say a
// policy needs a human whatever its volumes say.
var policyAttentionConditions = []string{
	v1alpha1.ConditionConflict, v1alpha1.ConditionResizeFailed,
	v1alpha1.ConditionSidecarMissing, v1alpha1.ConditionObservationsRejected,
}

// policyNeedsAttention: the policy does nothing (conflict, cluster not
// found), or one of policyAttentionConditions is true.
func policyNeedsAttention(p *v1alpha1.StorageAutoscalePolicy) bool {
	if p.Status.State == "Error" || p.Status.State == "Conflict" {
		return true
	}
	for _, condition := range policyAttentionConditions {
		if meta.IsStatusConditionTrue(p.Status.Conditions, condition) {
			return true
		}
	}
	for _, volume := range p.Status.Volumes {
		if volumeNeedsAttention(volume.State, volume.Gate) {
			return true
		}
	}
	return false
}

// historyNeedsAttention: the latest growth of some role failed.
func historyNeedsAttention(history []v1alpha1.GrowthRecord) bool {
	type roleKey struct {
		role       v1alpha1.VolumeRole
		tablespace string
	}
	latest := map[roleKey]v1alpha1.GrowthOutcome{}
	// status.history is newest last.
	for _, record := range history {
		latest[roleKey{record.Role, record.Tablespace}] = record.Outcome
	}
	for _, outcome := range latest {
		if outcome == v1alpha1.OutcomeFailed {
			return true
		}
	}
	return false
}
