package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Mode says whether the controller may patch PVCs.
// +kubebuilder:validation:Enum=Enforce;DryRun
type Mode string

const (
	// ModeEnforce plans and patches PVCs.
	ModeEnforce Mode = "Enforce"
	// ModeDryRun plans and reports what it would do, and never patches.
	ModeDryRun Mode = "DryRun"
)

// Provider selects the storage provider's rules: size granularity, billing
// tiers and the minimum time between two resizes of one disk.
// +kubebuilder:validation:Enum=auto;azure-disk;aws-ebs;gcp-pd;generic
type Provider string

const (
	// ProviderAuto follows the StorageClass provisioner.
	ProviderAuto      Provider = "auto"
	ProviderAzureDisk Provider = "azure-disk"
	ProviderAWSEBS    Provider = "aws-ebs"
	ProviderGCPPD     Provider = "gcp-pd"
	ProviderGeneric   Provider = "generic"
)

// Sizing says whether the instances of one role share one size.
// +kubebuilder:validation:Enum=Uniform;PerInstance
type Sizing string

const (
	// SizingUniform gives every PVC of a role the largest size any of them
	// needs, so that a failover never lands on a smaller disk.
	SizingUniform Sizing = "Uniform"
	// SizingPerInstance grows each PVC on its own usage.
	SizingPerInstance Sizing = "PerInstance"
)

// InfeasibleAction says what the controller does when the storage driver
// refuses a growth as infeasible (a quota at the storage backend, a size the
// disk type cannot reach).
// +kubebuilder:validation:Enum=Hold;Retry
type InfeasibleAction string

const (
	// InfeasibleHold leaves the refused request in place and holds the PVC,
	// with the driver's words, until a human acts.
	InfeasibleHold InfeasibleAction = "Hold"
	// InfeasibleRetry lowers the refused request once to a smaller growth
	// (half the refused step, rounded up to the provider's granularity),
	// as Kubernetes 1.34 allows (RecoverVolumeExpansionFailure); if that is
	// refused too, the PVC is held as with Hold.
	InfeasibleRetry InfeasibleAction = "Retry"
)

// StorageAutoscalePolicySpec is what the user asks for: which CNPG Cluster,
// when to grow its volumes, how far, and what must hold before growing.
// +kubebuilder:validation:XValidation:rule="self.clusterRef.name == oldSelf.clusterRef.name",message="spec.clusterRef.name cannot be changed: delete this policy and create one for the other cluster"
type StorageAutoscalePolicySpec struct {
	// ClusterRef names the CNPG Cluster, in the policy's namespace, whose
	// volumes this policy grows.
	ClusterRef ClusterReference `json:"clusterRef"`

	// Mode is Enforce (plan and patch PVCs) or DryRun (plan and report, never patch).
	// +kubebuilder:default=Enforce
	// +optional
	Mode Mode `json:"mode,omitempty"`

	// Provider sets size rounding and the minimum time between two resizes
	// of a disk. auto follows the StorageClass provisioner.
	// +kubebuilder:default=auto
	// +optional
	Provider Provider `json:"provider,omitempty"`

	// Sizing is Uniform (all instances of a role share one size) or PerInstance.
	// +kubebuilder:default=Uniform
	// +optional
	Sizing Sizing `json:"sizing,omitempty"`

	// ObservationMaxAge: observations older than this are ignored, and no
	// growth is decided on them. At least 90s: the probe rewrites an
	// unchanged observation only every 60s (its heartbeat), so a shorter
	// age would call healthy observations stale.
	// +kubebuilder:default="3m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('90s') && duration(self) <= duration('1h')",message="observationMaxAge must be between 90s and 1h: the probe rewrites an unchanged observation every 60s"
	// +optional
	ObservationMaxAge metav1.Duration `json:"observationMaxAge,omitzero"`

	// NudgeKubelet lets the controller annotate the pod that mounts a PVC
	// waiting for its filesystem to grow, so kubelet grows it now instead of
	// at its next periodic sync (up to 90 s later).
	// +kubebuilder:default=true
	// +optional
	NudgeKubelet *bool `json:"nudgeKubelet,omitempty"`

	// Injection controls what happens to instance pods that run without the
	// probe sidecar.
	// +kubebuilder:default={}
	// +optional
	Injection InjectionSpec `json:"injection,omitempty"`

	// Volumes holds the growth rules per volume role.
	Volumes VolumesSpec `json:"volumes"`

	// WALSafety holds the conditions under which WAL-bearing volumes are not grown.
	// +kubebuilder:default={}
	// +optional
	WALSafety WALSafetySpec `json:"walSafety,omitempty"`

	// MaintenanceWindows restrict planned growth to these windows. Empty means
	// always open. Emergency growth ignores them.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	MaintenanceWindows []MaintenanceWindow `json:"maintenanceWindows,omitempty"`

	// Budget limits how many growths happen in any rolling 24 hours.
	// +kubebuilder:default={}
	// +optional
	Budget BudgetSpec `json:"budget,omitempty"`

	// SyncClusterSpec also raises the CNPG Cluster's spec.storage,
	// spec.walStorage and tablespace sizes after a growth, so that CNPG's own
	// spec matches the volumes.
	// +optional
	SyncClusterSpec bool `json:"syncClusterSpec,omitempty"`
}

// ClusterReference names a CNPG Cluster in the policy's namespace.
type ClusterReference struct {
	// Name of the CNPG Cluster.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.size() > 0",message="spec.clusterRef.name must name a CNPG Cluster in this namespace"
	Name string `json:"name"`
}

// InjectionSpec controls pods that lack the probe sidecar.
type InjectionSpec struct {
	// RestartExisting asks CNPG for a rolling restart (replicas first, then a
	// switchover) of a cluster whose instance pods lack the sidecar, at most
	// once per hour. false: only report them in the SidecarMissing condition.
	// +optional
	RestartExisting bool `json:"restartExisting,omitempty"`
}

// VolumesSpec holds the growth rules for each volume role of the cluster.
type VolumesSpec struct {
	// Data is the rule for the PGDATA volumes. Its limit is required.
	// +kubebuilder:validation:XValidation:rule="has(self.limit)",message="spec.volumes.data.limit is required: the hard ceiling no data volume will ever be grown past, e.g. 500Gi"
	Data VolumePolicy `json:"data"`

	// WAL is the rule for the separate WAL volumes; required when the
	// cluster has spec.walStorage.
	// +optional
	WAL *VolumePolicy `json:"wal,omitempty"`

	// Tablespaces holds the rules for tablespace volumes: a default and
	// overrides by tablespace name.
	// +optional
	Tablespaces *TablespacesSpec `json:"tablespaces,omitempty"`
}

// TablespacesSpec holds the rules for tablespace volumes.
type TablespacesSpec struct {
	// Default applies to every tablespace without an entry in ByName.
	// +optional
	Default *VolumePolicy `json:"default,omitempty"`

	// ByName overrides Default for the tablespaces it names (at most 12: the
	// CRD's validation cost budget is shared by every entry).
	// +kubebuilder:validation:MaxProperties=12
	// +optional
	ByName map[string]VolumePolicy `json:"byName,omitempty"`
}

// VolumePolicy is the growth rule for the volumes of one role.
// +kubebuilder:validation:XValidation:rule="!has(self.critical.usedPercent) || !has(self.trigger.usedPercent) || self.critical.usedPercent > self.trigger.usedPercent",message="critical.usedPercent must be greater than trigger.usedPercent: emergency growth is for a volume fuller than the planned trigger"
// +kubebuilder:validation:XValidation:rule="!has(self.critical.inodesUsedPercent) || !has(self.trigger.inodesUsedPercent) || self.critical.inodesUsedPercent > self.trigger.inodesUsedPercent",message="critical.inodesUsedPercent must be greater than trigger.inodesUsedPercent: emergency growth is for a volume whose inodes are scarcer than at the planned trigger"
// +kubebuilder:validation:XValidation:rule="!has(self.limit) || quantity(string(self.limit)).isGreaterThan(quantity('0'))",message="limit must be a positive size, e.g. 500Gi"
type VolumePolicy struct {
	// Enabled turns growth of this role on or off.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// Limit is the hard ceiling: no PVC of this role is ever grown past it.
	// Required for data; for WAL and tablespaces the policy webhook requires
	// it when the cluster has such volumes.
	// +optional
	Limit *resource.Quantity `json:"limit,omitempty"`

	// Trigger starts planned growth when any of its thresholds is crossed.
	// +kubebuilder:default={}
	// +optional
	Trigger Trigger `json:"trigger,omitempty"`

	// Critical starts emergency growth, which ignores maintenance windows and
	// the policy cooldown (never the limit).
	// +kubebuilder:default={}
	// +optional
	Critical CriticalThreshold `json:"critical,omitempty"`

	// TargetFreePercent: after a growth at least this share of the volume is free.
	// +kubebuilder:default=25
	// +kubebuilder:validation:XValidation:rule="self > 0 && self < 100",message="targetFreePercent must be a whole percentage between 1 and 99"
	// +optional
	TargetFreePercent int32 `json:"targetFreePercent,omitempty"`

	// Step is the smallest growth: a percentage of the current capacity,
	// bounded by min and max.
	// +kubebuilder:default={}
	// +optional
	Step Step `json:"step,omitempty"`

	// Cooldown is the least time between two planned growths of one PVC.
	// Emergency growth does not wait for it. A provider's own limit binds
	// both (aws-ebs: 4 modifications of a volume in a rolling 24h). Every
	// growth is sized so that, at the fill rate the sidecar measured, the
	// volume stays under the trigger until the cooldown is over (plus 30s
	// to react): a fast fill gets room for the cooldown, not an emergency.
	// step.max and the limit bound that cover.
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="cooldown cannot be negative"
	// +optional
	Cooldown metav1.Duration `json:"cooldown,omitzero"`

	// Forecast grows early when the fill rate says the trigger is reached
	// within the horizon.
	// +kubebuilder:default={}
	// +optional
	Forecast Forecast `json:"forecast,omitempty"`

	// OnInfeasible is what happens when the storage driver refuses a growth
	// of this role as infeasible: Hold (keep the refused request and wait for
	// a human) or Retry (lower the request once to half the refused step,
	// then hold if that is refused too). The retry is no new budget action.
	// +kubebuilder:default=Hold
	// +optional
	OnInfeasible InfeasibleAction `json:"onInfeasible,omitempty"`
}

// Trigger holds the thresholds of planned growth; any one crossed triggers it.
type Trigger struct {
	// UsedPercent of the filesystem, reserved blocks counted as used.
	// +kubebuilder:default=80
	// +kubebuilder:validation:XValidation:rule="self > 0 && self < 100",message="trigger.usedPercent must be a whole percentage between 1 and 99"
	// +optional
	UsedPercent int32 `json:"usedPercent,omitempty"`

	// MinFree: grow when less than this is free. 0 turns it off.
	// +kubebuilder:default="0"
	// +optional
	MinFree resource.Quantity `json:"minFree,omitzero"`

	// InodesUsedPercent: grow when this share of inodes is used.
	// +kubebuilder:default=90
	// +kubebuilder:validation:XValidation:rule="self > 0 && self < 100",message="trigger.inodesUsedPercent must be a whole percentage between 1 and 99"
	// +optional
	InodesUsedPercent int32 `json:"inodesUsedPercent,omitempty"`
}

// CriticalThreshold holds the thresholds of emergency growth.
type CriticalThreshold struct {
	// UsedPercent of the filesystem, reserved blocks counted as used. A volume
	// at 100 % is always critical.
	// +kubebuilder:default=95
	// +kubebuilder:validation:XValidation:rule="self > 0 && self < 100",message="critical.usedPercent must be a whole percentage between 1 and 99"
	// +optional
	UsedPercent int32 `json:"usedPercent,omitempty"`

	// MinFree: emergency growth when less than this is free. 0 turns it off.
	// +kubebuilder:default="0"
	// +optional
	MinFree resource.Quantity `json:"minFree,omitzero"`

	// InodesUsedPercent: emergency growth when this share of inodes is used.
	// A filesystem with no free inode is always critical: PostgreSQL cannot
	// create a file, however many bytes are free.
	// +kubebuilder:default=95
	// +kubebuilder:validation:XValidation:rule="self > 0 && self < 100",message="critical.inodesUsedPercent must be a whole percentage between 1 and 99"
	// +optional
	InodesUsedPercent int32 `json:"inodesUsedPercent,omitempty"`
}

// Step bounds one growth. That max is 0 or at least min is checked by the
// policy webhook: a CEL quantity comparison here exceeds the CRD's cost budget.
type Step struct {
	// Percent of the current capacity added by one growth.
	// +kubebuilder:default=20
	// +kubebuilder:validation:XValidation:rule="self > 0 && self <= 1000",message="step.percent must be between 1 and 1000"
	// +optional
	Percent int32 `json:"percent,omitempty"`

	// Min is the smallest growth.
	// +kubebuilder:default="1Gi"
	// +optional
	Min resource.Quantity `json:"min,omitzero"`

	// Max is the largest growth by step and by the fill-rate cover (see
	// cooldown); 0 means unbounded, and only the limit bounds the cover.
	// +kubebuilder:default="0"
	// +optional
	Max resource.Quantity `json:"max,omitzero"`
}

// Forecast enables growth ahead of the trigger, from the measured fill rate.
type Forecast struct {
	// Horizon: grow when the trigger would be reached within it, sized for
	// the horizon's projected need (at most a doubling). 0 turns forecasting
	// off; every growth is still sized for the measured fill rate (see
	// cooldown).
	// +kubebuilder:default="0s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('168h')",message="forecast.horizon must be between 0 (off) and 168h"
	// +optional
	Horizon metav1.Duration `json:"horizon,omitzero"`
}

// WALSafetySpec keeps growth from hiding a broken WAL archive or a forgotten
// replication slot: both make WAL pile up, and a bigger disk only delays the
// outage while the backups silently stop.
type WALSafetySpec struct {
	// RequireArchiveHealthy holds planned growth of WAL-bearing volumes while
	// WAL archiving fails.
	// +kubebuilder:default=true
	// +optional
	RequireArchiveHealthy *bool `json:"requireArchiveHealthy,omitempty"`

	// MaxInactiveSlotRetention holds planned growth of WAL-bearing volumes
	// while inactive replication slots retain more WAL than this. 0 turns the
	// check off. CNPG's own HA slots (prefix _cnpg_) are reported, not counted.
	// +kubebuilder:default="0"
	// +optional
	MaxInactiveSlotRetention resource.Quantity `json:"maxInactiveSlotRetention,omitzero"`

	// BlockEmergencyGrowth makes the WAL checks hold emergency growth too.
	// This risks an outage: PostgreSQL stops when its WAL volume is full.
	// +optional
	BlockEmergencyGrowth bool `json:"blockEmergencyGrowth,omitempty"`

	// AcknowledgeSingleVolume must be true for a cluster without a separate
	// WAL volume: WAL then lives on the data volume, and WAL safety holds
	// the data volume's planned growth.
	// +optional
	AcknowledgeSingleVolume bool `json:"acknowledgeSingleVolume,omitempty"`
}

// MaintenanceWindow is a recurring time span in which planned growth may run.
type MaintenanceWindow struct {
	// Schedule is a cron expression (minute hour day-of-month month
	// day-of-week) for when the window opens, e.g. "0 2 * * *".
	// +kubebuilder:validation:XValidation:rule="self.matches('^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[^ ]+( +[^ ]+){4})$')",message="schedule must be a cron expression with five fields (minute hour day-of-month month day-of-week), e.g. \"0 2 * * *\""
	// +kubebuilder:validation:MaxLength=128
	Schedule string `json:"schedule"`

	// Duration is how long the window stays open, at most 24h.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('24h')",message="duration must be more than 0 and at most 24h"
	Duration metav1.Duration `json:"duration"`

	// TimeZone of the schedule, an IANA name such as Europe/Berlin.
	// +kubebuilder:default=UTC
	// +kubebuilder:validation:MaxLength=64
	// +optional
	TimeZone string `json:"timeZone,omitempty"`
}

// BudgetSpec limits the growths in any rolling 24 hours. Planned growth may
// use maxActionsPerDay - emergencyReserve; emergency growth may use the rest.
// +kubebuilder:validation:XValidation:rule="!has(self.emergencyReserve) || !has(self.maxActionsPerDay) || self.emergencyReserve <= self.maxActionsPerDay",message="budget.emergencyReserve cannot exceed budget.maxActionsPerDay"
type BudgetSpec struct {
	// MaxActionsPerDay: growths of any kind in a rolling 24h. One growth of a
	// role counts once, however many PVCs it patches.
	// +kubebuilder:default=6
	// +kubebuilder:validation:XValidation:rule="self >= 1 && self <= 48",message="budget.maxActionsPerDay must be between 1 and 48"
	// +optional
	MaxActionsPerDay int32 `json:"maxActionsPerDay,omitempty"`

	// EmergencyReserve: actions planned growth may not use. 0 is allowed
	// (a pointer, so that 0 is not mistaken for unset).
	// +kubebuilder:default=2
	// +kubebuilder:validation:XValidation:rule="self >= 0",message="budget.emergencyReserve cannot be negative"
	// +optional
	EmergencyReserve *int32 `json:"emergencyReserve,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sap,categories=pgstorage
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.clusterRef.name`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Data",type=string,JSONPath=`.status.effectiveSizes.data`
// +kubebuilder:printcolumn:name="WAL",type=string,JSONPath=`.status.effectiveSizes.wal`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// StorageAutoscalePolicy grows the PVCs of one CNPG Cluster before they fill up.
type StorageAutoscalePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StorageAutoscalePolicySpec   `json:"spec"`
	Status StorageAutoscalePolicyStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// StorageAutoscalePolicyList is a list of StorageAutoscalePolicy.
type StorageAutoscalePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []StorageAutoscalePolicy `json:"items"`
}
