package plan

import (
	"slices"
	"time"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// budgetWindow is the rolling window of budget.maxActionsPerDay.
const budgetWindow = 24 * time.Hour

// budget is the rolling 24h action budget, rebuilt from status.budget.actions
// and charged as the plan decides growths.
type budget struct {
	maxActions int
	reserve    int
	// actions are those still inside the window, oldest first.
	actions []v1alpha1.BudgetAction
	added   []v1alpha1.BudgetAction
	// chargeTime is when actions of this plan are recorded.
	chargeTime time.Time
}

func newBudget(spec v1alpha1.BudgetSpec, recorded []v1alpha1.BudgetAction, now time.Time) *budget {
	maxActions := int(max(spec.MaxActionsPerDay, 0))
	reserve := v1alpha1.DefaultEmergencyReserve
	if spec.EmergencyReserve != nil {
		reserve = int(*spec.EmergencyReserve)
	}
	b := &budget{
		maxActions: maxActions,
		reserve:    min(max(reserve, 0), maxActions),
		chargeTime: ceilToSecond(now),
	}
	windowStart := now.Add(-budgetWindow)
	for _, action := range recorded {
		if action.Time.After(windowStart) {
			b.actions = append(b.actions, action)
		}
	}
	slices.SortStableFunc(b.actions, func(a, c v1alpha1.BudgetAction) int {
		return a.Time.Compare(c.Time.Time)
	})
	return b
}

// ceilToSecond: metav1.Time keeps whole seconds; rounding up keeps an
// action in the window at least as long as it really is.
func ceilToSecond(t time.Time) time.Time {
	truncated := t.Truncate(time.Second)
	if truncated.Equal(t) {
		return t
	}
	return truncated.Add(time.Second)
}

func (b *budget) used(kind v1alpha1.GrowthKind) int {
	count := 0
	for _, action := range b.actions {
		if action.Kind == kind {
			count++
		}
	}
	return count
}

func (b *budget) plannedLeft() int {
	return max(min(b.maxActions-b.reserve-b.used(v1alpha1.GrowthPlanned), b.emergencyLeft()), 0)
}

func (b *budget) emergencyLeft() int {
	return max(b.maxActions-len(b.actions), 0)
}

func (b *budget) left(kind v1alpha1.GrowthKind) int {
	if kind == v1alpha1.GrowthEmergency {
		return b.emergencyLeft()
	}
	return b.plannedLeft()
}

// recorded reports whether a growth of this role (and, under PerInstance,
// this instance) to this size is already in the window: the same growth
// continuing over several reconciles.
func (b *budget) recorded(role v1alpha1.VolumeRole, tablespace, instance string, toBytes int64) bool {
	for _, action := range b.actions {
		if action.Role == role && action.Tablespace == tablespace && action.Instance == instance && bytesOf(action.To) == toBytes {
			return true
		}
	}
	return false
}

func (b *budget) charge(kind v1alpha1.GrowthKind, role v1alpha1.VolumeRole, tablespace, instance string, toBytes int64) {
	action := v1alpha1.BudgetAction{
		Kind:       kind,
		Role:       role,
		Tablespace: tablespace,
		Instance:   instance,
		To:         quantityOf(toBytes),
	}
	action.Time.Time = b.chargeTime
	b.actions = append(b.actions, action)
	b.added = append(b.added, action)
}

// freesAt is when the budget for kind next grows: the oldest action that
// counts against it leaves the window.
func (b *budget) freesAt(kind v1alpha1.GrowthKind) time.Time {
	if kind == v1alpha1.GrowthPlanned && b.maxActions-b.reserve-b.used(v1alpha1.GrowthPlanned) <= 0 {
		for _, action := range b.actions {
			if action.Kind == v1alpha1.GrowthPlanned {
				return action.Time.Add(budgetWindow)
			}
		}
	}
	if len(b.actions) == 0 {
		return time.Time{}
	}
	return b.actions[0].Time.Add(budgetWindow)
}

// BudgetOf is the rolling budget's usage given its actions at now, by the
// planner's rule: the controller's report applies it to the actions that
// really happened (a growth whose every patch was refused is dropped).
func BudgetOf(spec v1alpha1.BudgetSpec, actions []v1alpha1.BudgetAction, now time.Time) BudgetUsage {
	return newBudget(spec, actions, now).usage()
}

func (b *budget) usage() BudgetUsage {
	return BudgetUsage{
		Actions:       slices.Clone(b.actions),
		PlannedUsed:   int32(b.used(v1alpha1.GrowthPlanned)),
		EmergencyUsed: int32(b.used(v1alpha1.GrowthEmergency)),
		PlannedLeft:   int32(b.plannedLeft()),
		EmergencyLeft: int32(b.emergencyLeft()),
	}
}
