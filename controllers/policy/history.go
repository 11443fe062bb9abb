package policy

import (
	"slices"
	"time"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// recordGrowths adds a history entry for every new budget action whose
// patches the API server accepted, and adds the PVCs of a growth continuing
// over several reconciles to its entry. It returns the history and the
// actions to keep: an action none of whose patches landed (a quota refused
// them) did not happen and is not charged.
func recordGrowths(history []v1alpha1.GrowthRecord, newActions []v1alpha1.BudgetAction, patched map[string]plan.Decision) ([]v1alpha1.GrowthRecord, []v1alpha1.BudgetAction) {
	history = slices.Clone(history)
	var kept []v1alpha1.BudgetAction
	covered := map[string]bool{}
	for _, action := range newActions {
		var record *v1alpha1.GrowthRecord
		for _, name := range sortedKeys(patched) {
			decision := patched[name]
			if !actionCovers(action, decision) {
				continue
			}
			covered[name] = true
			if record == nil {
				record = &v1alpha1.GrowthRecord{
					Time:       action.Time,
					Role:       action.Role,
					Tablespace: action.Tablespace,
					From:       decision.From,
					To:         action.To,
					Kind:       action.Kind,
					Trigger:    decision.Trigger,
					Outcome:    v1alpha1.OutcomeInProgress,
				}
			}
			record.PVCs = append(record.PVCs, name)
			if decision.From.Cmp(record.From) < 0 {
				record.From = decision.From
			}
		}
		if record != nil {
			history = append(history, *record)
			kept = append(kept, action)
		}
	}
	for _, name := range sortedKeys(patched) {
		if covered[name] {
			continue
		}
		decision := patched[name]
		// The rest of a growth whose first patches landed earlier joins that
		// growth's entry while it is in progress. A new replica's catch-up
		// is no growth and has no entry.
		for index := len(history) - 1; index >= 0; index-- {
			record := &history[index]
			if record.Outcome == v1alpha1.OutcomeInProgress && record.Role == decision.Role &&
				record.Tablespace == decision.Tablespace && record.To.Cmp(decision.To) == 0 {
				if !slices.Contains(record.PVCs, name) {
					record.PVCs = append(record.PVCs, name)
				}
				break
			}
		}
	}
	return history, kept
}

func actionCovers(action v1alpha1.BudgetAction, decision plan.Decision) bool {
	return action.Role == decision.Role && action.Tablespace == decision.Tablespace &&
		(action.Instance == "" || action.Instance == decision.Instance) &&
		action.To.Cmp(decision.To) == 0 && !decision.CatchUp
}

// trackGrowths follows every growth in progress through the expansion
// protocol: done when each of its PVCs reached the size, Failed when the
// driver refused one (its words in the message) or when one is still in
// flight past the resize timeout. It returns the entries that finished now.
// PVCs patched in this reconcile are judged on the state read before the
// patch, which is never "reached", so a growth cannot finish the moment it starts.
func trackGrowths(history []v1alpha1.GrowthRecord, resize map[string]resizeState, now time.Time, timeout time.Duration) []v1alpha1.GrowthRecord {
	var finished []v1alpha1.GrowthRecord
	for index := range history {
		record := &history[index]
		if record.Outcome != v1alpha1.OutcomeInProgress {
			continue
		}
		done, failure := true, ""
		for _, name := range record.PVCs {
			state, exists := resize[name]
			if !exists {
				// The instance was deleted: its PVC has nothing left to grow.
				continue
			}
			if state.reachedAtLeast(record.To) {
				continue
			}
			done = false
			stuckFor := now.Sub(record.Time.Time)
			if state.readAt(record.Time.Time, now, timeout).Failed() {
				failure = state.failureMessage(name, record.To, stuckFor, timeout)
				break
			}
		}
		switch {
		case failure != "":
			record.Outcome, record.Message = v1alpha1.OutcomeFailed, failure
		case done:
			record.Outcome = v1alpha1.OutcomeSucceeded
		default:
			continue
		}
		finished = append(finished, *record)
	}
	return finished
}

// boundHistory keeps the newest entries, at most v1alpha1.HistoryLength.
func boundHistory(history []v1alpha1.GrowthRecord) []v1alpha1.GrowthRecord {
	if len(history) > v1alpha1.HistoryLength {
		history = history[len(history)-v1alpha1.HistoryLength:]
	}
	return history
}

// growthDeadline is the earliest time a growth in progress turns stuck.
func growthDeadline(history []v1alpha1.GrowthRecord, timeout time.Duration) time.Time {
	var earliest time.Time
	for _, record := range history {
		if record.Outcome != v1alpha1.OutcomeInProgress || timeout <= 0 {
			continue
		}
		at := record.Time.Add(timeout + time.Second)
		if earliest.IsZero() || at.Before(earliest) {
			earliest = at
		}
	}
	return earliest
}
