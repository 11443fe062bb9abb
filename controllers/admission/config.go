package admission

import (
	"k8s.io/apimachinery/pkg/api/resource"
)

// SidecarConfig is what the controller's configuration says about the
// injected probe; everything else about the container follows from the pod.
type SidecarConfig struct {
	// Image of the probe sidecar (Dockerfile.sidecar), pulled IfNotPresent.
	Image string
	// CPURequest, CPULimit, MemoryRequest and MemoryLimit are always set: a
	// namespace ResourceQuota on limits would otherwise reject the mutated
	// pod, and failurePolicy: Ignore does not help there.
	CPURequest, CPULimit       resource.Quantity
	MemoryRequest, MemoryLimit resource.Quantity
	// MetricsPort serves /metrics and /healthz; CNPG's exporter uses 9187.
	MetricsPort int32
}

// Defaults of the sidecar's configuration. The memory figures come from the
// measured steady RSS of ~27 MiB (docs/performance.md) with room to spare.
const (
	DefaultCPURequest    = "5m"
	DefaultCPULimit      = "100m"
	DefaultMemoryRequest = "32Mi"
	DefaultMemoryLimit   = "64Mi"
	DefaultMetricsPort   = 9188
)

// DefaultSidecarConfig returns the defaults with the given image.
func DefaultSidecarConfig(image string) SidecarConfig {
	return SidecarConfig{
		Image:         image,
		CPURequest:    resource.MustParse(DefaultCPURequest),
		CPULimit:      resource.MustParse(DefaultCPULimit),
		MemoryRequest: resource.MustParse(DefaultMemoryRequest),
		MemoryLimit:   resource.MustParse(DefaultMemoryLimit),
		MetricsPort:   DefaultMetricsPort,
	}
}
