package plan

import (
	"time"
)

// ExpansionPhase is where a PVC stands in the Kubernetes expansion protocol
// (KEP-1790, GA in 1.34), as this add-on reads it.
type ExpansionPhase string

const (
	// ExpansionSettled: nothing is in flight; the request is the capacity.
	ExpansionSettled ExpansionPhase = "Settled"
	// ExpansionInProgress: the resizer or kubelet has work left, possibly
	// after an error it retries (throttling, rate limits).
	ExpansionInProgress ExpansionPhase = "InProgress"
	// ExpansionInfeasible: the driver refused the current request
	// (allocatedResourceStatuses ControllerResizeInfeasible or
	// NodeResizeInfeasible); nobody retries it.
	ExpansionInfeasible ExpansionPhase = "Infeasible"
	// ExpansionStuck: in progress for longer than the resize timeout since
	// the growth started. On clusters without allocatedResourceStatuses this
	// is how an error condition that never clears becomes a failure.
	ExpansionStuck ExpansionPhase = "Stuck"
)

// Expansion is one reading of a PVC's expansion.
type Expansion struct {
	Phase ExpansionPhase
	// Status names the step the growth is at, for reasons: the
	// allocatedResourceStatuses value, else the first true resize condition
	// (errors first), else "" (request above capacity, nothing said yet).
	Status string
	// Message is the storage driver's words, when it said anything.
	Message string
	// StuckFor is how long a Stuck growth has been under way.
	StuckFor time.Duration
}

// InFlight: the growth has not finished, whether or not it will.
func (e Expansion) InFlight() bool { return e.Phase != ExpansionSettled }

// Failed: the growth will not finish by itself.
func (e Expansion) Failed() bool {
	return e.Phase == ExpansionInfeasible || e.Phase == ExpansionStuck
}

// The values of the protocol this reading depends on: allocatedResourceStatuses
// values and PVC condition types, as in k8s.io/api/core/v1 (which this
// package does not import).
const (
	statusControllerInfeasible = "ControllerResizeInfeasible"
	statusNodeInfeasible       = "NodeResizeInfeasible"
	conditionControllerError   = "ControllerResizeError"
	conditionNodeError         = "NodeResizeError"
)

// statusResizerBehind is the Status of a PVC whose request changed after
// the driver refused an earlier one: the refusal is not about this request.
const statusResizerBehind = "waiting for the resizer to take up the new request"

// ReadExpansion is the add-on's one interpretation of the expansion
// protocol, used by the planner's gates and by the controller's growth
// tracking alike. since is when the growth started (zero: unknown, never
// stuck); timeout 0 turns the stuck rule off.
//
// Only allocatedResourceStatuses *Infeasible says the driver gave up: the
// external-resizer also sets the ControllerResizeError and NodeResizeError
// conditions for errors it retries (throttling, rate limits), so a condition
// alone is progress with the driver's message, until the timeout. An
// *Infeasible status about an earlier request (status.allocatedResources
// differs from the request: it was lowered or raised since) is progress too:
// the resizer has not taken the new request up yet.
func ReadExpansion(pvc PVC, since, now time.Time, timeout time.Duration) Expansion {
	requestBytes, capacityBytes := bytesOf(pvc.Request), bytesOf(pvc.Capacity)
	if pvc.AllocatedResourceStatus == "" && len(pvc.ResizeConditions) == 0 &&
		(capacityBytes <= 0 || requestBytes <= capacityBytes) {
		return Expansion{Phase: ExpansionSettled}
	}
	reading := Expansion{Phase: ExpansionInProgress, Status: pvc.AllocatedResourceStatus, Message: driverMessage(pvc.ResizeConditions)}
	if reading.Status == "" && len(pvc.ResizeConditions) > 0 {
		reading.Status = firstConditionType(pvc.ResizeConditions)
	}
	if pvc.AllocatedResourceStatus == statusControllerInfeasible || pvc.AllocatedResourceStatus == statusNodeInfeasible {
		allocatedBytes := bytesOf(pvc.AllocatedResources)
		if allocatedBytes == 0 || allocatedBytes == requestBytes {
			reading.Phase = ExpansionInfeasible
			return reading
		}
		reading.Status, reading.Message = statusResizerBehind, ""
	}
	if timeout > 0 && !since.IsZero() && now.Sub(since) > timeout {
		reading.Phase = ExpansionStuck
		reading.StuckFor = now.Sub(since)
	}
	return reading
}

func isResizeError(conditionType string) bool {
	return conditionType == conditionControllerError || conditionType == conditionNodeError
}

// driverMessage is the first message of an error condition, else of any
// resize condition.
func driverMessage(conditions []ResizeCondition) string {
	for _, errorsOnly := range []bool{true, false} {
		for _, condition := range conditions {
			if condition.Message != "" && (!errorsOnly || isResizeError(condition.Type)) {
				return condition.Message
			}
		}
	}
	return ""
}

func firstConditionType(conditions []ResizeCondition) string {
	for _, condition := range conditions {
		if isResizeError(condition.Type) {
			return condition.Type
		}
	}
	return conditions[0].Type
}
