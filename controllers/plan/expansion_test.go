package plan

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

func TestReadExpansionIsTheOneReadingOfTheProtocol(t *testing.T) {
	started := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	const timeout = 10 * time.Minute
	const rateExceeded = "rpc error: code = ResourceExhausted desc = Rate exceeded"
	const quota = "disk cannot exceed 11Gi on this SKU"
	pvc := func(request, capacity, allocatedStatus, allocated string, conditions ...ResizeCondition) PVC {
		out := PVC{Request: resource.MustParse(request), Capacity: resource.MustParse(capacity), AllocatedResourceStatus: allocatedStatus, ResizeConditions: conditions}
		if allocated != "" {
			out.AllocatedResources = resource.MustParse(allocated)
		}
		return out
	}
	controllerError := func(message string) ResizeCondition {
		return ResizeCondition{Type: "ControllerResizeError", Message: message}
	}
	cases := []struct {
		name     string
		pvc      PVC
		after    time.Duration
		want     Expansion
		inFlight bool
		failed   bool
	}{
		{
			name: "request equal to capacity, nothing said: settled",
			pvc:  pvc("10Gi", "10Gi", "", ""),
			want: Expansion{Phase: ExpansionSettled},
		},
		{
			name: "request above capacity, nothing said yet: in progress",
			pvc:  pvc("12Gi", "10Gi", "", ""), inFlight: true,
			want: Expansion{Phase: ExpansionInProgress},
		},
		{
			name: "a retryable ControllerResizeError with ControllerResizeInProgress is in progress with the driver's message",
			pvc:  pvc("12Gi", "10Gi", "ControllerResizeInProgress", "12Gi", controllerError(rateExceeded)), inFlight: true,
			want: Expansion{Phase: ExpansionInProgress, Status: "ControllerResizeInProgress", Message: rateExceeded},
		},
		{
			name: "ControllerResizeInfeasible is infeasible with the driver's message",
			pvc:  pvc("12Gi", "10Gi", "ControllerResizeInfeasible", "12Gi", controllerError(quota)), inFlight: true, failed: true,
			want: Expansion{Phase: ExpansionInfeasible, Status: "ControllerResizeInfeasible", Message: quota},
		},
		{
			name: "NodeResizeInfeasible is infeasible",
			pvc:  pvc("12Gi", "10Gi", "NodeResizeInfeasible", "12Gi", ResizeCondition{Type: "NodeResizeError", Message: "resize2fs: no space"}), inFlight: true, failed: true,
			want: Expansion{Phase: ExpansionInfeasible, Status: "NodeResizeInfeasible", Message: "resize2fs: no space"},
		},
		{
			name: "NodeResizePending with the PV grown is in progress",
			pvc:  pvc("12Gi", "12Gi", "NodeResizePending", "12Gi", ResizeCondition{Type: "FileSystemResizePending"}), inFlight: true,
			want: Expansion{Phase: ExpansionInProgress, Status: "NodeResizePending"},
		},
		{
			name: "an Infeasible status about an earlier, larger request is the resizer not having taken up the lowered one",
			pvc:  pvc("11Gi", "10Gi", "ControllerResizeInfeasible", "12Gi", controllerError(quota)), inFlight: true,
			want: Expansion{Phase: ExpansionInProgress, Status: statusResizerBehind},
		},
		{
			name: "an Infeasible status without allocatedResources is about the request",
			pvc:  pvc("12Gi", "10Gi", "ControllerResizeInfeasible", "", controllerError(quota)), inFlight: true, failed: true,
			want: Expansion{Phase: ExpansionInfeasible, Status: "ControllerResizeInfeasible", Message: quota},
		},
		{
			name: "conditions only (older clusters): an error condition before the timeout is in progress with the driver's message",
			pvc:  pvc("12Gi", "10Gi", "", "", ResizeCondition{Type: "Resizing"}, controllerError(rateExceeded)), after: 9 * time.Minute, inFlight: true,
			want: Expansion{Phase: ExpansionInProgress, Status: "ControllerResizeError", Message: rateExceeded},
		},
		{
			name: "conditions only: an error condition with no progress past the timeout has failed",
			pvc:  pvc("12Gi", "10Gi", "", "", controllerError(quota)), after: 11 * time.Minute, inFlight: true, failed: true,
			want: Expansion{Phase: ExpansionStuck, Status: "ControllerResizeError", Message: quota, StuckFor: 11 * time.Minute},
		},
		{
			name: "any growth in progress past the timeout is stuck",
			pvc:  pvc("12Gi", "12Gi", "NodeResizePending", "12Gi"), after: 11 * time.Minute, inFlight: true, failed: true,
			want: Expansion{Phase: ExpansionStuck, Status: "NodeResizePending", StuckFor: 11 * time.Minute},
		},
		{
			name: "an infeasible growth is infeasible, not stuck, past the timeout",
			pvc:  pvc("12Gi", "10Gi", "ControllerResizeInfeasible", "12Gi", controllerError(quota)), after: time.Hour, inFlight: true, failed: true,
			want: Expansion{Phase: ExpansionInfeasible, Status: "ControllerResizeInfeasible", Message: quota},
		},
		{
			name: "a settled PVC is settled past the timeout",
			pvc:  pvc("12Gi", "12Gi", "", ""), after: time.Hour,
			want: Expansion{Phase: ExpansionSettled},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ReadExpansion(tc.pvc, started, started.Add(tc.after), timeout)
			if got != tc.want || got.InFlight() != tc.inFlight || got.Failed() != tc.failed {
				t.Fatalf("got %+v (in flight %v, failed %v), want %+v (in flight %v, failed %v)", got, got.InFlight(), got.Failed(), tc.want, tc.inFlight, tc.failed)
			}
		})
	}
	t.Run("an unknown start or no timeout never turns a growth stuck", func(t *testing.T) {
		stuck := pvc("12Gi", "10Gi", "", "", controllerError(quota))
		if got := ReadExpansion(stuck, time.Time{}, started.Add(time.Hour), timeout); got.Phase != ExpansionInProgress {
			t.Errorf("unknown start: %+v", got)
		}
		if got := ReadExpansion(stuck, started, started.Add(time.Hour), 0); got.Phase != ExpansionInProgress {
			t.Errorf("no timeout: %+v", got)
		}
	})
}
