package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types of a StorageAutoscalePolicy.
const (
	ConditionReady                     = "Ready"
	ConditionActive                    = "Active"
	ConditionDryRun                    = "DryRun"
	ConditionBlocked                   = "Blocked"
	ConditionLimitReached              = "LimitReached"
	ConditionObservationsStale         = "ObservationsStale"
	ConditionObservationsRejected      = "ObservationsRejected"
	ConditionSidecarMissing            = "SidecarMissing"
	ConditionResizeInProgress          = "ResizeInProgress"
	ConditionResizeFailed              = "ResizeFailed"
	ConditionStorageClassNotExpandable = "StorageClassNotExpandable"
	ConditionBudgetExhausted           = "BudgetExhausted"
	ConditionConflict                  = "Conflict"
)

// VolumeRole is the role of a PostgreSQL volume in a CNPG instance.
// +kubebuilder:validation:Enum=data;wal;tablespace
type VolumeRole string

const (
	RoleData       VolumeRole = "data"
	RoleWAL        VolumeRole = "wal"
	RoleTablespace VolumeRole = "tablespace"
)

// VolumeState summarizes what the controller is doing with one PVC.
// +kubebuilder:validation:Enum=Idle;Growing;Queued;Blocked;AtLimit;Stale
type VolumeState string

const (
	VolumeIdle    VolumeState = "Idle"
	VolumeGrowing VolumeState = "Growing"
	VolumeQueued  VolumeState = "Queued"
	VolumeBlocked VolumeState = "Blocked"
	VolumeAtLimit VolumeState = "AtLimit"
	VolumeStale   VolumeState = "Stale"
)

// GrowthKind tells planned growth (trigger crossed; respects windows,
// cooldown, WAL safety and the planned budget) from emergency growth
// (critical threshold crossed; ignores windows and the policy cooldown).
// +kubebuilder:validation:Enum=planned;emergency
type GrowthKind string

const (
	GrowthPlanned   GrowthKind = "planned"
	GrowthEmergency GrowthKind = "emergency"
)

// GrowthOutcome is how a growth ended, or that it has not yet.
// +kubebuilder:validation:Enum=InProgress;Succeeded;Failed
type GrowthOutcome string

const (
	OutcomeInProgress GrowthOutcome = "InProgress"
	OutcomeSucceeded  GrowthOutcome = "Succeeded"
	OutcomeFailed     GrowthOutcome = "Failed"
)

// StorageAutoscalePolicyStatus is everything the controller needs to resume
// after a restart, and what it tells users. Nothing lives only in memory.
type StorageAutoscalePolicyStatus struct {
	// ObservedGeneration is the spec generation the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// State is a one-word summary for kubectl get.
	// +optional
	State string `json:"state,omitempty"`

	// Conditions: Ready, Active, DryRun, Blocked, LimitReached,
	// ObservationsStale, ObservationsRejected, SidecarMissing,
	// ResizeInProgress, ResizeFailed, StorageClassNotExpandable,
	// BudgetExhausted, Conflict.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// EffectiveSizes are the sizes per role that new PVCs are created at
	// (read by the PVC webhook).
	// +optional
	EffectiveSizes EffectiveSizes `json:"effectiveSizes,omitempty"`

	// Volumes has one row per PVC of the cluster.
	// +listType=atomic
	// +optional
	Volumes []VolumeStatus `json:"volumes,omitempty"`

	// Pending holds planned growths waiting for a maintenance window.
	// +listType=atomic
	// +optional
	Pending []PendingGrowth `json:"pending,omitempty"`

	// Budget holds the growths of the last 24 hours; the rolling window is
	// rebuilt from them after a restart.
	// +optional
	Budget BudgetStatus `json:"budget,omitempty"`

	// History holds the last 20 growths, newest last.
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	// +optional
	History []GrowthRecord `json:"history,omitempty"`

	// QuotaRefusals are the growths a namespace ResourceQuota refused whose
	// retry waits: until the retry interval has passed since the refusal,
	// or until the quota changes. Only growths under the quota that refused
	// wait; an emergency growth never waits for a planned one's refusal.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	QuotaRefusals []QuotaRefusal `json:"quotaRefusals,omitempty"`
}

// QuotaRefusal is one refusal of a PVC patch by a ResourceQuota.
type QuotaRefusal struct {
	// Quota is the name of the ResourceQuota that refused.
	Quota string `json:"quota"`
	// StorageClass is set when what the quota limits, and exceeded, is the
	// storage of this class only; empty when it is the namespace's storage.
	// +optional
	StorageClass string `json:"storageClass,omitempty"`
	// Kind is the kind of the growth refused.
	Kind GrowthKind `json:"kind"`
	// PVC is the PVC whose patch was refused.
	PVC string `json:"pvc"`
	// Time is when the patch was refused.
	Time metav1.Time `json:"time"`
	// QuotaVersion is the quota's resourceVersion when it refused: once the
	// quota changes (raised, or its usage fell), the growth is retried at once.
	// +optional
	QuotaVersion string `json:"quotaVersion,omitempty"`
	// Message is the API server's words.
	Message string `json:"message"`
}

// EffectiveSizes are the sizes per role that every PVC of that role has, or is
// being grown to.
type EffectiveSizes struct {
	// +optional
	Data *resource.Quantity `json:"data,omitempty"`
	// +optional
	WAL *resource.Quantity `json:"wal,omitempty"`
	// Tablespaces by tablespace name.
	// +optional
	Tablespaces map[string]resource.Quantity `json:"tablespaces,omitempty"`
}

// VolumeStatus is the controller's view of one PVC.
type VolumeStatus struct {
	PVC      string     `json:"pvc"`
	Instance string     `json:"instance"`
	Role     VolumeRole `json:"role"`
	// Tablespace names the tablespace of a tablespace volume.
	// +optional
	Tablespace string `json:"tablespace,omitempty"`
	// Primary is true for the volumes of the current primary.
	// +optional
	Primary bool `json:"primary,omitempty"`
	// Requested is the PVC's spec.resources.requests.storage.
	// +optional
	Requested *resource.Quantity `json:"requested,omitempty"`
	// Capacity is the PVC's status.capacity.storage.
	// +optional
	Capacity *resource.Quantity `json:"capacity,omitempty"`
	// +optional
	UsedBytes int64 `json:"usedBytes,omitempty"`
	// +optional
	FreeBytes int64 `json:"freeBytes,omitempty"`
	// UsedPercent of the filesystem, reserved blocks counted as used.
	// +optional
	UsedPercent float64 `json:"usedPercent,omitempty"`
	// +optional
	FillRateBytesPerHour int64 `json:"fillRateBytesPerHour,omitempty"`
	// TimeToFull at the current fill rate; empty when not filling.
	// +optional
	TimeToFull *metav1.Duration `json:"timeToFull,omitempty"`
	// +optional
	State VolumeState `json:"state,omitempty"`
	// Gate names the planner's gate that holds the PVC back (e.g. Window,
	// Budget, WALSafety); empty when nothing does. Machine-readable twin of Reason.
	// +optional
	Gate string `json:"gate,omitempty"`
	// Reason says, for a tired on-call engineer, why the PVC is in this state.
	// +optional
	Reason string `json:"reason,omitempty"`
	// +optional
	LastGrowth *metav1.Time `json:"lastGrowth,omitempty"`
}

// PendingGrowth is a planned growth waiting for a maintenance window.
type PendingGrowth struct {
	Role VolumeRole `json:"role"`
	// +optional
	Tablespace string `json:"tablespace,omitempty"`
	// +optional
	Instance string            `json:"instance,omitempty"`
	To       resource.Quantity `json:"to"`
	Reason   string            `json:"reason"`
	QueuedAt metav1.Time       `json:"queuedAt"`
	// NotBefore is when the next maintenance window opens.
	// +optional
	NotBefore *metav1.Time `json:"notBefore,omitempty"`
}

// BudgetStatus is the rolling 24h budget's state.
type BudgetStatus struct {
	// Actions are the growths of the last 24 hours.
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Actions []BudgetAction `json:"actions,omitempty"`
	// +optional
	PlannedUsed int32 `json:"plannedUsed,omitempty"`
	// +optional
	EmergencyUsed int32 `json:"emergencyUsed,omitempty"`
}

// BudgetAction is one growth of one role, however many PVCs it patched.
type BudgetAction struct {
	Time metav1.Time `json:"time"`
	Kind GrowthKind  `json:"kind"`
	Role VolumeRole  `json:"role"`
	// +optional
	Tablespace string `json:"tablespace,omitempty"`
	// Instance is set for PerInstance sizing, where one instance's growth is
	// the action.
	// +optional
	Instance string `json:"instance,omitempty"`
	// To is the size the role was grown to; with Role (and Instance) it keys
	// the action, so a growth patched over several reconciles counts once.
	To resource.Quantity `json:"to"`
}

// GrowthRecord is one growth in the history.
type GrowthRecord struct {
	Time metav1.Time `json:"time"`
	Role VolumeRole  `json:"role"`
	// +optional
	Tablespace string `json:"tablespace,omitempty"`
	// +listType=atomic
	PVCs []string          `json:"pvcs"`
	From resource.Quantity `json:"from"`
	To   resource.Quantity `json:"to"`
	Kind GrowthKind        `json:"kind"`
	// Trigger is the threshold that fired, e.g. "usedPercent 83 >= 80".
	Trigger string        `json:"trigger"`
	Outcome GrowthOutcome `json:"outcome"`
	// Message carries the storage driver's words when the growth failed.
	// +optional
	Message string `json:"message,omitempty"`
	// Retry marks the one smaller try after the storage driver refused a
	// growth as infeasible (onInfeasible: Retry): From is the refused
	// request, To the smaller one. It is no new budget action.
	// +optional
	Retry bool `json:"retry,omitempty"`
}
