package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// InstanceRole is the PostgreSQL role the sidecar saw, or unknown when
// PostgreSQL could not be asked.
// +kubebuilder:validation:Enum=primary;replica;unknown
type InstanceRole string

const (
	InstancePrimary InstanceRole = "primary"
	InstanceReplica InstanceRole = "replica"
	InstanceUnknown InstanceRole = "unknown"
)

// StorageObservationSpec is the identity of the instance pod the observation
// describes. It never changes: a new pod gets a new observation.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is the pod's identity and cannot change; a new pod writes a new observation"
type StorageObservationSpec struct {
	// Cluster is the CNPG Cluster the pod belongs to.
	// +kubebuilder:validation:MinLength=1
	Cluster string `json:"cluster"`
	// Instance is the CNPG instance name (the pod's name).
	// +kubebuilder:validation:MinLength=1
	Instance string `json:"instance"`
	// PodUID is the UID of the pod that writes this observation.
	// +kubebuilder:validation:MinLength=1
	PodUID string `json:"podUID"`
}

// StorageObservationStatus is what the sidecar measured.
type StorageObservationStatus struct {
	// ObservedAt is when the measurements were taken.
	// +optional
	ObservedAt *metav1.MicroTime `json:"observedAt,omitempty"`
	// Role is what pg_is_in_recovery() said, or unknown.
	// +optional
	Role InstanceRole `json:"role,omitempty"`
	// Volumes are the statfs figures of each PostgreSQL volume of the pod.
	// +listType=map
	// +listMapKey=name
	// +optional
	Volumes []ObservedVolume `json:"volumes,omitempty"`
	// Postgres is what PostgreSQL said about WAL, archiving, slots and tablespaces.
	// +optional
	Postgres PostgresObservation `json:"postgres,omitempty"`
	// Error is the last probe error, human readable; empty when all went well.
	// +optional
	Error string `json:"error,omitempty"`
}

// ObservedVolume is one filesystem as statfs saw it.
type ObservedVolume struct {
	// Name of the pod volume (pgdata, pg-wal, or the tablespace's volume).
	Name string     `json:"name"`
	Role VolumeRole `json:"role"`
	// Tablespace names the tablespace of a tablespace volume.
	// +optional
	Tablespace string `json:"tablespace,omitempty"`
	// PVC is the claim behind the volume.
	PVC       string `json:"pvc"`
	MountPath string `json:"mountPath"`
	// CapacityBytes is the filesystem's size (f_blocks × f_frsize).
	CapacityBytes int64 `json:"capacityBytes"`
	// UsedBytes is capacity minus what a non-root writer can still use:
	// reserved blocks count as used.
	UsedBytes int64 `json:"usedBytes"`
	// AvailableBytes is f_bavail × f_frsize: what PostgreSQL can still write.
	AvailableBytes int64 `json:"availableBytes"`
	// +optional
	InodesTotal int64 `json:"inodesTotal,omitempty"`
	// +optional
	InodesFree int64 `json:"inodesFree,omitempty"`
	// FillRateBytesPerSecond from the sidecar's own samples of the last 10
	// minutes, what a growth changes at once (reserved blocks) left out;
	// negative when the volume is emptying, 0 while a fill is not sustained
	// over both halves of that span (a single burst is no rate).
	// +optional
	FillRateBytesPerSecond int64 `json:"fillRateBytesPerSecond,omitempty"`
	// RecentFillRateBytesPerSecond is the same reading over the last 20 to 60
	// seconds (the fastest sustained one): a fill that started after calm
	// minutes, which the 10-minute rate does not count yet. It sizes growths
	// (the room until the next growth may happen); only the 10-minute rate
	// drives forecasts over hours.
	// +optional
	RecentFillRateBytesPerSecond int64 `json:"recentFillRateBytesPerSecond,omitempty"`
	// LatestFillRateBytesPerSecond is the rate of the last two intervals
	// between disk measurements (200 ms at the sidecar's 100 ms disk
	// interval), the lower of the two; 0 unless both were filling. A fill
	// that started a moment ago shows here first. It only anticipates: a
	// planned growth is decided when, at this rate, the trigger is seconds
	// away (projected no further than a few times LatestFillBytes), and a
	// volume over its trigger whose planned growth a gate holds (window,
	// cooldown, budget, WAL safety) is grown as an emergency when the
	// critical threshold is nearer than a growth takes to land. It never
	// sizes a growth.
	// +optional
	LatestFillRateBytesPerSecond int64 `json:"latestFillRateBytesPerSecond,omitempty"`
	// LatestFillBytes is what the volume has gained since it last stood
	// still between two disk measurements (0 when it did in the last
	// interval): how much of a fill the latest rate has actually seen. One
	// 30 MiB write in a tenth of a second reads as 300 MiB/s; this says it
	// was 30 MiB.
	// +optional
	// +kubebuilder:validation:Minimum=0
	LatestFillBytes int64 `json:"latestFillBytes,omitempty"`
}

// PostgresObservation is what PostgreSQL reported.
type PostgresObservation struct {
	// Reachable is false while PostgreSQL is down, starting, crash-looping or
	// refuses the sidecar's role; disk figures are reported regardless.
	Reachable bool `json:"reachable"`
	// Reason says why PostgreSQL was not reachable.
	// +optional
	Reason string `json:"reason,omitempty"`
	// +optional
	WALBytes int64 `json:"walBytes,omitempty"`
	// +optional
	WALSegments int64 `json:"walSegments,omitempty"`
	// +optional
	Archiving *ArchivingObservation `json:"archiving,omitempty"`
	// +listType=atomic
	// +optional
	Slots []SlotObservation `json:"slots,omitempty"`
	// +listType=atomic
	// +optional
	Tablespaces []TablespaceObservation `json:"tablespaces,omitempty"`
}

// ArchivingObservation is pg_stat_archiver with a verdict.
type ArchivingObservation struct {
	// Enabled is archive_mode != off.
	Enabled bool `json:"enabled"`
	// +optional
	ArchivedCount int64 `json:"archivedCount,omitempty"`
	// +optional
	FailedCount int64 `json:"failedCount,omitempty"`
	// +optional
	LastArchivedWAL string `json:"lastArchivedWal,omitempty"`
	// +optional
	LastArchivedAt *metav1.Time `json:"lastArchivedAt,omitempty"`
	// +optional
	LastFailedWAL string `json:"lastFailedWal,omitempty"`
	// +optional
	LastFailedAt *metav1.Time `json:"lastFailedAt,omitempty"`
	// Healthy is false when the last archive attempt failed (the last failure
	// is newer than the last success).
	Healthy bool `json:"healthy"`
}

// SlotObservation is one replication slot.
type SlotObservation struct {
	Name string `json:"name"`
	// Type is physical or logical.
	Type   string `json:"type"`
	Active bool   `json:"active"`
	// WALStatus is pg_replication_slots.wal_status (reserved, extended, unreserved, lost).
	// +optional
	WALStatus string `json:"walStatus,omitempty"`
	// RetainedBytes is the WAL the slot holds back.
	// +optional
	RetainedBytes int64 `json:"retainedBytes,omitempty"`
	// SafeWALSizeBytes is pg_replication_slots.safe_wal_size, when set.
	// +optional
	SafeWALSizeBytes *int64 `json:"safeWalSizeBytes,omitempty"`
	// CNPGManaged marks CNPG's own HA slots (prefix _cnpg_): reported, not
	// counted against walSafety.maxInactiveSlotRetention.
	// +optional
	CNPGManaged bool `json:"cnpgManaged,omitempty"`
}

// TablespaceObservation is one tablespace's size.
type TablespaceObservation struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sobs,categories=pgstorage
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.cluster`
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.status.role`
// +kubebuilder:printcolumn:name="PostgreSQL",type=boolean,JSONPath=`.status.postgres.reachable`
// +kubebuilder:printcolumn:name="Observed",type=date,JSONPath=`.status.observedAt`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.error`,priority=1

// StorageObservation is what the probe sidecar of one CNPG instance pod
// measured. It is named after the pod and owned by it.
type StorageObservation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StorageObservationSpec   `json:"spec"`
	Status StorageObservationStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// StorageObservationList is a list of StorageObservation.
type StorageObservationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []StorageObservation `json:"items"`
}
