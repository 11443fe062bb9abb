package policy

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// The PVC conditions of the Kubernetes expansion protocol (KEP-1790, GA in
// 1.34) that resizeStateOf passes on to plan.ReadExpansion.
const (
	conditionResizing                = corev1.PersistentVolumeClaimResizing
	conditionFileSystemResizePending = corev1.PersistentVolumeClaimFileSystemResizePending
	conditionControllerResizeError   = corev1.PersistentVolumeClaimControllerResizeError
	conditionNodeResizeError         = corev1.PersistentVolumeClaimNodeResizeError
)

// resizeState is where one PVC stands in the expansion protocol, as
// plan.ReadExpansion reads it without a clock (never Stuck): the growth
// tracking reads it again with the growth's start and the resize timeout.
type resizeState struct {
	request  resource.Quantity
	capacity resource.Quantity
	// allocated is status.allocatedResourceStatuses.storage, "" when none.
	allocated string
	// allocatedSize is status.allocatedResources.storage, zero when none.
	allocatedSize resource.Quantity
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
		request:       pvc.Spec.Resources.Requests[corev1.ResourceStorage],
		capacity:      pvc.Status.Capacity[corev1.ResourceStorage],
		allocated:     string(pvc.Status.AllocatedResourceStatuses[corev1.ResourceStorage]),
		allocatedSize: pvc.Status.AllocatedResources[corev1.ResourceStorage],
	}
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
	return state.read()
}

// read sets what the state says from its facts.
func (s resizeState) read() resizeState {
	reading := s.readAt(time.Time{}, time.Time{}, 0)
	s.inFlight = reading.InFlight()
	s.infeasible = reading.Phase == plan.ExpansionInfeasible
	s.message = reading.Message
	s.phase = reading.Status
	if s.phase == "" && s.inFlight {
		s.phase = "waiting for the resizer"
	}
	return s
}

// readAt is plan.ReadExpansion of the PVC for a growth that started at since.
func (s resizeState) readAt(since, now time.Time, timeout time.Duration) plan.Expansion {
	return plan.ReadExpansion(plan.PVC{
		Request:                 s.request,
		Capacity:                s.capacity,
		AllocatedResourceStatus: s.allocated,
		AllocatedResources:      s.allocatedSize,
		ResizeConditions:        s.conditions,
	}, since, now, timeout)
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
