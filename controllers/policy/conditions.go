package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// Policy states (status.state), the most urgent first.
const (
	stateConflict = "Conflict"
	stateError    = "Error"
	stateBlocked  = "Blocked"
	stateGrowing  = "Growing"
	stateAtLimit  = "AtLimit"
	stateQueued   = "Queued"
	stateDryRun   = "DryRun"
	stateIdle     = "Idle"
)

// Condition reasons not named after a gate.
const (
	reasonReconciled      = "Reconciled"
	reasonActFailed       = "ActFailed"
	reasonClusterNotFound = "ClusterNotFound"
	reasonConflict        = "Conflict"
	reasonNoConflict      = "NoConflict"
	reasonEnforce         = "Enforce"
	reasonDryRun          = "DryRun"
	reasonNone            = "None"
	reasonResizeFailed    = "ResizeFailed"
	reasonResizeStuck     = "ResizeStuck"
	reasonInFlight        = "ResizeInProgress"
	reasonStale           = "ObservationsStale"
	reasonFresh           = "ObservationsFresh"
	reasonRejected        = "ObservationsRejected"
	reasonAllTrusted      = "ObservationsTrusted"
	reasonSidecarMissing  = "SidecarMissing"
	reasonNotExpandable   = "StorageClassNotExpandable"
	reasonExpandable      = "StorageClassesExpandable"
	reasonLimit           = "AtLimit"
	reasonBudget          = "Budget"
)

// conditionSetter sets conditions stamped with the reconcile's clock and
// the generation it planned on.
type conditionSetter struct {
	conditions *[]metav1.Condition
	generation int64
	now        time.Time
}

func (c conditionSetter) set(conditionType string, status bool, reason, message string) {
	value := metav1.ConditionFalse
	if status {
		value = metav1.ConditionTrue
	}
	meta.SetStatusCondition(c.conditions, metav1.Condition{
		Type:               conditionType,
		Status:             value,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: c.generation,
		LastTransitionTime: metav1.NewTime(c.now),
	})
}

// restart sets a condition with a fresh lastTransitionTime even when its
// status does not change (the quota refusal's retry interval counts from it).
func (c conditionSetter) restart(conditionType string, status bool, reason, message string) {
	meta.RemoveStatusCondition(c.conditions, conditionType)
	c.set(conditionType, status, reason, message)
}

// staleInstances are the instances with no observation fresh enough to
// decide on.
func staleInstances(view *clusterView) []string {
	maxAge := view.policy.Spec.ObservationMaxAge.Duration
	if maxAge <= 0 {
		maxAge = v1alpha1.DefaultObservationMaxAge
	}
	var stale []string
	for _, instance := range view.instances {
		at, seen := view.observedAt[instance]
		if !seen || view.now.Sub(at) > maxAge {
			stale = append(stale, instance)
		}
	}
	return stale
}

func staleMessage(view *clusterView, stale []string) string {
	var parts []string
	for _, instance := range stale {
		if at, seen := view.observedAt[instance]; seen {
			// Rounded up: a stale age never reads as equal to the limit.
			age := view.now.Sub(at)
			if rounded := age.Truncate(time.Second); rounded < age {
				age = rounded + time.Second
			}
			parts = append(parts, fmt.Sprintf("%s (last observed %s ago)", instance, age))
		} else if rejected, ok := rejectionOf(view.rejected, instance); ok {
			parts = append(parts, fmt.Sprintf("%s (its observation is ignored: %s, see condition %s)",
				instance, rejected.Reason, v1alpha1.ConditionObservationsRejected))
		} else {
			parts = append(parts, instance+" (never observed)")
		}
	}
	return fmt.Sprintf("no observation newer than observationMaxAge %s from %s: their volumes are not grown on stale data; check the probe sidecar of those pods",
		view.policy.Spec.ObservationMaxAge.Duration, strings.Join(parts, ", "))
}

// setRejectedCondition is ObservationsRejected: the observations the
// controller ignores because they disagree with their pod. A condition of
// its own, not a part of ObservationsStale: a stale instance asks for a
// look at its sidecar, a rejected observation for a look at who wrote it.
func setRejectedCondition(conditions conditionSetter, view *clusterView) {
	if len(view.rejected) > 0 {
		conditions.set(v1alpha1.ConditionObservationsRejected, true, reasonRejected, rejectedMessage(view.rejected))
	} else {
		conditions.set(v1alpha1.ConditionObservationsRejected, false, reasonAllTrusted, "every observation agrees with its pod")
	}
}

// notExpandableMessage names each class that cannot expand and its PVCs.
func notExpandableMessage(view *clusterView) string {
	byClass := map[string][]string{}
	for _, name := range view.unexpandable {
		class := ""
		if pvc := view.pvcs[name]; pvc != nil && pvc.Spec.StorageClassName != nil {
			class = *pvc.Spec.StorageClassName
		}
		byClass[class] = append(byClass[class], name)
	}
	var parts []string
	for _, class := range sortedKeys(byClass) {
		switch class {
		case "":
			parts = append(parts, fmt.Sprintf("PVCs %s name no StorageClass", strings.Join(byClass[class], ", ")))
		default:
			parts = append(parts, fmt.Sprintf("StorageClass %s (PVCs %s) does not allow volume expansion or does not exist", class, strings.Join(byClass[class], ", ")))
		}
	}
	return strings.Join(parts, "; ") + ": these volumes are never grown; use a class with allowVolumeExpansion: true"
}

// rowsWhere names the PVCs whose row matches, with the first one's reason.
func rowsWhere(rows []v1alpha1.VolumeStatus, match func(v1alpha1.VolumeStatus) bool) (names []string, firstReason, firstGate string) {
	for _, row := range rows {
		if match(row) {
			if len(names) == 0 {
				firstReason, firstGate = row.Reason, row.Gate
			}
			names = append(names, row.PVC)
		}
	}
	return names, firstReason, firstGate
}

func summarize(names []string, reason string) string {
	return fmt.Sprintf("%s: %s", strings.Join(names, ", "), reason)
}

// blockingGates are the gates that hold a growth for a reason the user may
// need to act on; dry-run, no rule, stale observations, in flight and the
// window have conditions of their own or are no obstacle.
var blockingGates = []string{
	string(plan.GateWALSafety), string(plan.GateBudget), string(plan.GateCooldown),
	string(plan.GateStorageClass), reasonQuotaExceeded, reasonResizeFailed,
}

func isBlockingGate(gate string) bool { return slices.Contains(blockingGates, gate) }
