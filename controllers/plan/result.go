package plan

import (
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// Result is the plan: what to patch now and what to report.
type Result struct {
	// Decisions are the PVC patches to make now, in a stable order. Empty
	// in dry-run mode.
	Decisions []Decision
	// Retries lower the requests the storage driver refused as infeasible,
	// once each (onInfeasible: Retry). Empty in dry-run mode.
	Retries []Retry
	// WouldGrow holds, in dry-run mode only, the decisions Enforce would
	// have made.
	WouldGrow []Decision
	// Volumes has one row per PVC (status.volumes).
	Volumes []VolumeRow
	// EffectiveSizes per role: what every PVC of the role has or is being
	// grown to (status.effectiveSizes, read by the PVC webhook).
	EffectiveSizes []EffectiveSize
	// Pending are the planned growths waiting for a maintenance window
	// (status.pending).
	Pending []v1alpha1.PendingGrowth
	// Budget is status.budget after this plan: the last 24h's actions,
	// including those this plan adds.
	Budget BudgetUsage
	// NewActions are the budget actions this plan adds (also in
	// Budget.Actions); the controller records one history entry for each.
	NewActions []v1alpha1.BudgetAction
	// RequeueAt is the next time the plan can change without any object
	// changing (a window opens, a cooldown ends, budget frees up, an
	// observation goes stale); zero when nothing is due.
	RequeueAt time.Time
	// WALCause is the kind of WAL problem found on the primary, whether or
	// not a growth is held for it now; empty when WAL health is fine or
	// not checked.
	WALCause WALCause
}

// Decision is one PVC patch: set its request to To.
type Decision struct {
	PVC        string
	Instance   string
	Role       v1alpha1.VolumeRole
	Tablespace string
	From       resource.Quantity
	To         resource.Quantity
	Kind       v1alpha1.GrowthKind
	// Trigger is what fired, e.g. "usedPercent 83 >= 80"; for a follower
	// or a catch-up, which PVC drove the growth.
	Trigger string
	// CatchUp is true when the PVC is only raised to its role's current
	// effective size: no budget action, no trigger needed.
	CatchUp bool
}

// VolumeRow is one PVC's status row: its figures, its state, and the gate
// that holds it.
type VolumeRow struct {
	PVC        string
	Instance   string
	Role       v1alpha1.VolumeRole
	Tablespace string
	Primary    bool
	Requested  resource.Quantity
	Capacity   resource.Quantity
	// Observed is false when no fresh statfs figures back the fields below.
	Observed             bool
	UsedBytes            int64
	FreeBytes            int64
	UsedPercent          float64
	FillRateBytesPerHour int64
	// TimeToFull at the current fill rate; 0 when not filling.
	TimeToFull  time.Duration
	InodesTotal int64
	InodesFree  int64
	// CriticalUsedPercent is the rule's critical.usedPercent; 0 when the
	// PVC has no rule that grows it.
	CriticalUsedPercent int32
	// LimitBytes is the rule's limit; 0 when the PVC has no rule that
	// grows it.
	LimitBytes int64
	State      v1alpha1.VolumeState
	// Gate is the gate that holds the PVC; empty when nothing holds it.
	Gate Gate
	// Reason says what is happening, since when, and what would change it.
	Reason     string
	LastGrowth time.Time
}

// EffectiveSize is the size every PVC of one role has or is being grown to.
type EffectiveSize struct {
	Role       v1alpha1.VolumeRole
	Tablespace string
	Size       resource.Quantity
}

// BudgetUsage is the rolling 24h budget after this plan.
type BudgetUsage struct {
	// Actions are the growths of the last 24h, oldest first.
	Actions       []v1alpha1.BudgetAction
	PlannedUsed   int32
	EmergencyUsed int32
	// PlannedLeft is what planned growth may still use in the window.
	PlannedLeft int32
	// EmergencyLeft is what emergency growth may still use in the window.
	EmergencyLeft int32
}

// Status returns the row as a status.volumes entry.
func (r VolumeRow) Status() v1alpha1.VolumeStatus {
	status := v1alpha1.VolumeStatus{
		PVC:        r.PVC,
		Instance:   r.Instance,
		Role:       r.Role,
		Tablespace: r.Tablespace,
		Primary:    r.Primary,
		Requested:  quantityPointer(r.Requested),
		Capacity:   quantityPointer(r.Capacity),
		State:      r.State,
		Gate:       string(r.Gate),
		Reason:     r.Reason,
	}
	if r.Observed {
		status.UsedBytes = r.UsedBytes
		status.FreeBytes = r.FreeBytes
		status.UsedPercent = r.UsedPercent
		status.FillRateBytesPerHour = r.FillRateBytesPerHour
		if r.TimeToFull > 0 {
			status.TimeToFull = &metav1.Duration{Duration: r.TimeToFull}
		}
	}
	if !r.LastGrowth.IsZero() {
		lastGrowth := metav1.NewTime(r.LastGrowth)
		status.LastGrowth = &lastGrowth
	}
	return status
}

// StatusEffectiveSizes returns the effective sizes as status.effectiveSizes.
func (r Result) StatusEffectiveSizes() v1alpha1.EffectiveSizes {
	return StatusEffectiveSizes(r.EffectiveSizes)
}

// StatusEffectiveSizes writes effective sizes as status.effectiveSizes.
func StatusEffectiveSizes(effectiveSizes []EffectiveSize) v1alpha1.EffectiveSizes {
	var sizes v1alpha1.EffectiveSizes
	for _, effective := range effectiveSizes {
		switch effective.Role {
		case v1alpha1.RoleData:
			sizes.Data = quantityPointer(effective.Size)
		case v1alpha1.RoleWAL:
			sizes.WAL = quantityPointer(effective.Size)
		case v1alpha1.RoleTablespace:
			if sizes.Tablespaces == nil {
				sizes.Tablespaces = map[string]resource.Quantity{}
			}
			sizes.Tablespaces[effective.Tablespace] = effective.Size
		}
	}
	return sizes
}

func quantityPointer(q resource.Quantity) *resource.Quantity {
	if q.IsZero() {
		return nil
	}
	return &q
}
