package policy

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// The Kubernetes expansion protocol (KEP-1790, GA in 1.34): the resizer and
// kubelet report progress in status.allocatedResourceStatuses and in PVC
// conditions.
const (
	resizeControllerInProgress = corev1.PersistentVolumeClaimControllerResizeInProgress
	resizeControllerInfeasible = corev1.PersistentVolumeClaimControllerResizeInfeasible
	resizeNodePending          = corev1.PersistentVolumeClaimNodeResizePending
	resizeNodeInProgress       = corev1.PersistentVolumeClaimNodeResizeInProgress
	resizeNodeInfeasible       = corev1.PersistentVolumeClaimNodeResizeInfeasible

	conditionResizing                = corev1.PersistentVolumeClaimResizing
	conditionFileSystemResizePending = corev1.PersistentVolumeClaimFileSystemResizePending
	conditionControllerResizeError   = corev1.PersistentVolumeClaimControllerResizeError
	conditionNodeResizeError         = corev1.PersistentVolumeClaimNodeResizeError
)

// resizeState is where one PVC stands in the expansion protocol.
type resizeState struct {
	request  resource.Quantity
	capacity resource.Quantity
	// allocated is status.allocatedResourceStatuses.storage, "" when none.
	allocated string
	// conditions are the resize conditions that are true, errors first (the
	// planner reports the first message it finds).
	conditions []plan.ResizeCondition
	inFlight   bool
	infeasible bool
	// message is the storage driver's words, when it said anything.
	message string
	// phase names where the growth is, for reasons: the allocated status,
	// else a condition type, else "waiting for the resizer".
	phase string
}

// resizeStateOf reads one PVC. On clusters without allocatedResourceStatuses
// the conditions and status.capacity alone decide.
func resizeStateOf(pvc *corev1.PersistentVolumeClaim) resizeState {
	state := resizeState{
		request:  pvc.Spec.Resources.Requests[corev1.ResourceStorage],
		capacity: pvc.Status.Capacity[corev1.ResourceStorage],
	}
	state.allocated = string(pvc.Status.AllocatedResourceStatuses[corev1.ResourceStorage])
	var errors, progress []plan.ResizeCondition
	for _, condition := range pvc.Status.Conditions {
		if condition.Status != corev1.ConditionTrue {
			continue
		}
		resize := plan.ResizeCondition{Type: string(condition.Type), Message: condition.Message}
		switch condition.Type {
		case conditionControllerResizeError, conditionNodeResizeError:
			errors = append(errors, resize)
		case conditionResizing, conditionFileSystemResizePending:
			progress = append(progress, resize)
		}
	}
	state.conditions = append(errors, progress...)
	for _, condition := range state.conditions {
		if condition.Message != "" {
			state.message = condition.Message
			break
		}
	}
	switch corev1.ClaimResourceStatus(state.allocated) {
	case resizeControllerInfeasible, resizeNodeInfeasible:
		state.infeasible = true
	case resizeControllerInProgress, resizeNodePending, resizeNodeInProgress:
		state.inFlight = true
	}
	if len(errors) > 0 {
		state.infeasible = true
	}
	if len(progress) > 0 {
		state.inFlight = true
	}
	if !state.capacity.IsZero() && state.request.Cmp(state.capacity) > 0 {
		state.inFlight = true
	}
	switch {
	case state.allocated != "":
		state.phase = state.allocated
	case len(state.conditions) > 0:
		state.phase = state.conditions[0].Type
	case state.inFlight:
		state.phase = "waiting for the resizer"
	}
	return state
}

// settled: nothing in flight, nothing failed.
func (s resizeState) settled() bool { return !s.inFlight && !s.infeasible }

// reachedAtLeast: the volume has grown to size and the protocol is done.
func (s resizeState) reachedAtLeast(size resource.Quantity) bool {
	return s.settled() && s.capacity.Cmp(size) >= 0
}

// failureMessage says why a growth to size failed: the driver's words for
// an infeasible growth; for a stuck one, where it is stuck and for how long.
func (s resizeState) failureMessage(pvc string, size resource.Quantity, stuckFor, timeout time.Duration) string {
	if s.infeasible {
		driver := s.message
		if driver == "" {
			driver = "the storage driver gave no message"
		}
		status := s.allocated
		if status == "" && len(s.conditions) > 0 {
			status = s.conditions[0].Type
		}
		return fmt.Sprintf("growth of PVC %s to %s failed (%s): %s", pvc, size.String(), status, driver)
	}
	message := fmt.Sprintf("growth of PVC %s to %s stuck in %s for %s (resize timeout %s); capacity is %s",
		pvc, size.String(), s.phase, stuckFor.Round(time.Second), timeout, s.capacity.String())
	if s.message != "" {
		message += ": " + s.message
	}
	return message
}
