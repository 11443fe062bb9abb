package csidriver

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// faultKeys are the StorageClass parameters and PVC annotations that
// inject faults.
var faultKeys = []string{FaultAnnotation, FaultAnnotationLatency, FaultAnnotationMaxSize}

// injectFault applies the volume's faults to a growth to requiredBytes:
// nil lets the growth go ahead, else it is the driver's answer.
func (d *Driver) injectFault(ctx context.Context, m volumeMeta, requiredBytes int64) error {
	faults := d.faultsOf(ctx, m)
	if v := faults[FaultAnnotationLatency]; v != "" {
		latency, err := time.ParseDuration(v)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "%s %q: %v", FaultAnnotationLatency, v, err)
		}
		select {
		case <-time.After(latency):
		case <-ctx.Done():
			return status.Error(codes.DeadlineExceeded, "resize latency outlasted the caller's deadline")
		}
	}
	switch faults[FaultAnnotation] {
	case "":
	case FaultInfeasible:
		return status.Errorf(codes.OutOfRange, "sandbox storage: volume %s cannot be expanded (fault %q injected): the disk is at its maximum size", m.ID, FaultInfeasible)
	case FaultStuck:
		<-ctx.Done()
		return status.Errorf(codes.DeadlineExceeded, "sandbox storage: expansion of %s is stuck (fault %q injected)", m.ID, FaultStuck)
	default:
		return status.Errorf(codes.InvalidArgument, "unknown fault %q", faults[FaultAnnotation])
	}
	return maxSizeRefusal(m.ID, requiredBytes, faults[FaultAnnotationMaxSize])
}

// faultsOf is the volume's faults: its PVC's annotations where they say
// so (read now, so that a test can set them on a running volume), else its
// StorageClass parameters (recorded at CreateVolume).
func (d *Driver) faultsOf(ctx context.Context, m volumeMeta) map[string]string {
	faults := map[string]string{}
	for _, key := range faultKeys {
		if v := m.Parameters[key]; v != "" {
			faults[key] = v
		}
	}
	if d.cfg.Kube != nil && m.PVCName != "" {
		pvc, err := d.cfg.Kube.CoreV1().PersistentVolumeClaims(m.PVCNamespace).Get(ctx, m.PVCName, metav1.GetOptions{})
		if err == nil {
			for _, key := range faultKeys {
				if v := pvc.Annotations[key]; v != "" {
					faults[key] = v
				}
			}
		}
	}
	return faults
}

// maxSizeRefusal is how a disk whose largest size is maxSize ("" for no
// such fault) answers a growth to requiredBytes: OutOfRange above it, which
// the external-resizer takes as infeasible (allocatedResourceStatuses
// ControllerResizeInfeasible) and does not retry; nil at or below it. The
// size asked for is in the message, so a refusal says which request it was
// about.
func maxSizeRefusal(volumeID string, requiredBytes int64, maxSize string) error {
	if maxSize == "" {
		return nil
	}
	largest, err := resource.ParseQuantity(maxSize)
	if err != nil || largest.Sign() <= 0 {
		return status.Errorf(codes.InvalidArgument, "%s %q: want a positive size such as 3Gi", FaultAnnotationMaxSize, maxSize)
	}
	if requiredBytes <= largest.Value() {
		return nil
	}
	return status.Errorf(codes.OutOfRange, "sandbox storage: volume %s cannot be expanded to %s (fault %q injected): the disk type's largest size is %s",
		volumeID, resource.NewQuantity(requiredBytes, resource.BinarySI), faultMaxSize, &largest)
}
