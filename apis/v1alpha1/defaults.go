package v1alpha1

import (
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The defaults of DESIGN §3. The CRD applies the same values through its
// +kubebuilder:default markers; an integration test proves the two agree.
const (
	DefaultObservationMaxAge     = 3 * time.Minute
	DefaultTriggerUsedPercent    = 80
	DefaultTriggerInodesPercent  = 90
	DefaultCriticalUsedPercent   = 95
	DefaultCriticalInodesPercent = 95
	DefaultTargetFreePercent     = 25
	DefaultStepPercent           = 20
	DefaultStepMinBytes          = 1 << 30
	DefaultCooldown              = 5 * time.Minute
	DefaultMaxActionsPerDay      = 6
	DefaultEmergencyReserve      = 2
	DefaultMaintenanceTimeZone   = "UTC"
	MaxMaintenanceWindowDuration = 24 * time.Hour

	// HistoryLength is how many growths status.history keeps.
	HistoryLength = 20
	// CNPGSlotPrefix marks CNPG's own HA replication slots.
	CNPGSlotPrefix = "_cnpg_"
)

// Default fills every unset field of a spec built in Go (tests, the
// simulator) with the value the CRD's defaults would give it.
//
// Never call it on an object read from the API server: the server has
// already defaulted it, and a zero there is the user's explicit choice
// (cooldown: 0s, step.min: 0), which Default cannot tell from unset.
func (s *StorageAutoscalePolicySpec) Default() {
	if s.Mode == "" {
		s.Mode = ModeEnforce
	}
	if s.Provider == "" {
		s.Provider = ProviderAuto
	}
	if s.Sizing == "" {
		s.Sizing = SizingUniform
	}
	if s.ObservationMaxAge.Duration == 0 {
		s.ObservationMaxAge = metav1.Duration{Duration: DefaultObservationMaxAge}
	}
	if s.NudgeKubelet == nil {
		s.NudgeKubelet = ptr(true)
	}
	s.Volumes.Data.Default()
	if s.Volumes.WAL != nil {
		s.Volumes.WAL.Default()
	}
	if ts := s.Volumes.Tablespaces; ts != nil {
		if ts.Default != nil {
			ts.Default.Default()
		}
		for name, vp := range ts.ByName {
			vp.Default()
			ts.ByName[name] = vp
		}
	}
	if s.WALSafety.RequireArchiveHealthy == nil {
		s.WALSafety.RequireArchiveHealthy = ptr(true)
	}
	for i := range s.MaintenanceWindows {
		if s.MaintenanceWindows[i].TimeZone == "" {
			s.MaintenanceWindows[i].TimeZone = DefaultMaintenanceTimeZone
		}
	}
	if s.Budget.MaxActionsPerDay == 0 {
		s.Budget.MaxActionsPerDay = DefaultMaxActionsPerDay
	}
	if s.Budget.EmergencyReserve == nil {
		s.Budget.EmergencyReserve = ptr[int32](DefaultEmergencyReserve)
	}
}

// Default fills every unset field of a volume rule.
func (v *VolumePolicy) Default() {
	if v.Enabled == nil {
		v.Enabled = ptr(true)
	}
	if v.Trigger.UsedPercent == 0 {
		v.Trigger.UsedPercent = DefaultTriggerUsedPercent
	}
	if v.Trigger.InodesUsedPercent == 0 {
		v.Trigger.InodesUsedPercent = DefaultTriggerInodesPercent
	}
	if v.Critical.UsedPercent == 0 {
		v.Critical.UsedPercent = DefaultCriticalUsedPercent
	}
	if v.Critical.InodesUsedPercent == 0 {
		v.Critical.InodesUsedPercent = DefaultCriticalInodesPercent
	}
	if v.TargetFreePercent == 0 {
		v.TargetFreePercent = DefaultTargetFreePercent
	}
	if v.Step.Percent == 0 {
		v.Step.Percent = DefaultStepPercent
	}
	if v.Step.Min.IsZero() {
		v.Step.Min = *resource.NewQuantity(DefaultStepMinBytes, resource.BinarySI)
	}
	if v.Cooldown.Duration == 0 {
		v.Cooldown = metav1.Duration{Duration: DefaultCooldown}
	}
	if v.OnInfeasible == "" {
		v.OnInfeasible = InfeasibleHold
	}
}

// GrowthEnabled reports whether the rule lets its volumes grow.
func (v *VolumePolicy) GrowthEnabled() bool {
	return v.Enabled == nil || *v.Enabled
}

func ptr[T any](v T) *T { return &v }
