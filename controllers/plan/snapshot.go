package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// Snapshot is everything Plan needs, read once by the controller: no field
// is looked up later. It is JSON so that a snapshot can be saved, replayed
// and fuzzed (kubectl pgstorage simulate).
type Snapshot struct {
	// Now is the time the plan is made for; Plan reads no clock.
	Now time.Time `json:"now"`
	// Policy is the policy's spec as the API server defaulted it.
	Policy v1alpha1.StorageAutoscalePolicySpec `json:"policy"`
	// Primary is the CNPG Cluster's status.currentPrimary (instance name).
	// Empty: the planner falls back to the observation whose role is primary.
	Primary string `json:"primary,omitempty"`
	// PVCs are the cluster's PVCs (label cnpg.io/pvcRole).
	PVCs []PVC `json:"pvcs"`
	// Observations are the StorageObservations of the cluster's instance pods.
	Observations []Observation `json:"observations,omitempty"`
	// StorageClasses are the classes the PVCs name.
	StorageClasses []StorageClass `json:"storageClasses,omitempty"`
	// Budget is status.budget.actions: the growths recorded in the last 24h.
	Budget []v1alpha1.BudgetAction `json:"budget,omitempty"`
	// Pending is status.pending, so a queued growth keeps its queuedAt.
	Pending []v1alpha1.PendingGrowth `json:"pending,omitempty"`
	// History is status.history; the latest entry naming a PVC is its last
	// growth when that is newer than PVC.LastGrowth.
	History []v1alpha1.GrowthRecord `json:"history,omitempty"`
	// ResizeTimeout: a growth still in flight this long after it started
	// has failed (ReadExpansion); 0 turns that rule off.
	ResizeTimeout metav1.Duration `json:"resizeTimeout,omitzero"`
}

// PVC is one PersistentVolumeClaim of the cluster.
type PVC struct {
	Name     string `json:"name"`
	Instance string `json:"instance"`
	// Role is data, wal or tablespace (from cnpg.io/pvcRole).
	Role v1alpha1.VolumeRole `json:"role"`
	// Tablespace names the tablespace of a tablespace PVC.
	Tablespace   string `json:"tablespace,omitempty"`
	StorageClass string `json:"storageClass,omitempty"`
	// Request is spec.resources.requests.storage.
	Request resource.Quantity `json:"request"`
	// Capacity is status.capacity.storage; zero while the PVC is unbound.
	Capacity resource.Quantity `json:"capacity,omitzero"`
	// Unbound: status.phase is not Bound (a new replica's claim waiting for
	// its volume). The API server refuses any change to the spec of a claim
	// that is not bound, so it is not grown until it binds.
	Unbound bool `json:"unbound,omitempty"`
	// AllocatedResourceStatus is status.allocatedResourceStatuses.storage
	// (ControllerResizeInProgress, NodeResizePending, ... ), empty when none.
	AllocatedResourceStatus string `json:"allocatedResourceStatus,omitempty"`
	// AllocatedResources is status.allocatedResources.storage: the size the
	// resizer last took up; zero when none. An Infeasible status is about
	// this size, not about a request changed since.
	AllocatedResources resource.Quantity `json:"allocatedResources,omitzero"`
	// ResizeConditions are the PVC's resize conditions (Resizing,
	// FileSystemResizePending, ControllerResizeError, NodeResizeError).
	ResizeConditions []ResizeCondition `json:"resizeConditions,omitempty"`
	// LastGrowth is when the controller last patched this PVC larger; zero
	// when never (status.volumes[].lastGrowth).
	LastGrowth time.Time `json:"lastGrowth,omitzero"`
}

// ResizeCondition is one resize condition of a PVC with the driver's words.
type ResizeCondition struct {
	Type    string `json:"type"`
	Message string `json:"message,omitempty"`
}

// Observation is one instance pod's StorageObservation.
type Observation struct {
	// Instance is spec.instance.
	Instance string                            `json:"instance"`
	Status   v1alpha1.StorageObservationStatus `json:"status"`
}

// StorageClass is what the planner needs of a StorageClass.
type StorageClass struct {
	Name                 string            `json:"name"`
	Provisioner          string            `json:"provisioner"`
	AllowVolumeExpansion bool              `json:"allowVolumeExpansion"`
	Parameters           map[string]string `json:"parameters,omitempty"`
}

// DecodeSnapshot reads a snapshot saved as JSON. Unknown fields are an
// error, so a typo in a hand-written snapshot does not silently change a
// simulation.
func DecodeSnapshot(data []byte) (Snapshot, error) {
	var snapshot Snapshot
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&snapshot); err != nil {
		return Snapshot{}, fmt.Errorf("decode planner snapshot: %w", err)
	}
	return snapshot, nil
}
