package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/metrics"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/restarts"
)

// report writes what the reconcile saw, decided and did into the policy
// status, updates the metrics, and says when to come back.
func (r *Reconciler) report(ctx context.Context, view *clusterView, result plan.Result, outcome actOutcome) (ctrl.Result, error) {
	status, finished, started := r.buildStatus(view, result, outcome)
	r.recordHistoryEvents(view, finished)
	previous := meta.FindStatusCondition(view.policy.Status.Conditions, v1alpha1.ConditionStorageClassNotExpandable)
	current := meta.FindStatusCondition(status.Conditions, v1alpha1.ConditionStorageClassNotExpandable)
	if current.Status == metav1.ConditionTrue && (previous == nil || previous.Status != current.Status || previous.Message != current.Message) {
		r.recordStorageClassEvent(view, current.Message)
	}
	r.updateMetrics(view, result, status, finished, started, outcome)
	if err := r.writeStatus(ctx, view.policy, status); err != nil {
		return ctrl.Result{}, err
	}
	r.recordRejections(view)
	if outcome.err != nil {
		return ctrl.Result{}, outcome.err
	}
	if outcome.stale {
		return ctrl.Result{RequeueAfter: staleRetry}, nil
	}
	return ctrl.Result{RequeueAfter: r.requeueAfter(view, result, status)}, nil
}

// staleRetry is how soon a reconcile whose patch met a changed PVC runs
// again: long enough for the cache to catch up with the change.
const staleRetry = 200 * time.Millisecond

// buildStatus is the new status: a pure function of the view, the plan and
// what act did. It also returns the growths that finished and those that
// started now.
func (r *Reconciler) buildStatus(view *clusterView, result plan.Result, outcome actOutcome) (v1alpha1.StorageAutoscalePolicyStatus, []v1alpha1.GrowthRecord, []v1alpha1.BudgetAction) {
	policy := view.policy
	previous := policy.Status
	status := v1alpha1.StorageAutoscalePolicyStatus{
		ObservedGeneration: policy.Generation,
		Conditions:         slices.Clone(previous.Conditions),
	}
	// The plan's history is status.history with the growths the PVCs
	// record and status lacks (rebuildFromPVCs).
	history, kept := recordGrowths(view.plan.History, result.NewActions, outcome.patched)
	history, refused := recordRetries(history, outcome.retried, view.now)
	finished := append(refused, trackGrowths(history, view.resize, view.now, r.Config.ResizeTimeout)...)
	status.History = boundHistory(history)
	budget := budgetStatus(result, kept, policy.Spec.Budget, view.now)
	status.Budget = v1alpha1.BudgetStatus{Actions: budget.Actions, PlannedUsed: budget.PlannedUsed, EmergencyUsed: budget.EmergencyUsed}
	status.Pending = result.Pending
	status.EffectiveSizes = effectiveSizes(view, result, outcome)
	status.Volumes = r.rows(view, result, outcome, status.History)

	conditions := conditionSetter{conditions: &status.Conditions, generation: policy.Generation, now: view.now}
	enforce := policy.Spec.Mode != v1alpha1.ModeDryRun
	if outcome.err != nil {
		conditions.set(v1alpha1.ConditionReady, false, reasonActFailed, outcome.err.Error())
	} else {
		conditions.set(v1alpha1.ConditionReady, true, reasonReconciled, "the last reconcile succeeded")
	}
	conditions.set(v1alpha1.ConditionConflict, false, reasonNoConflict, "this is the only policy of cluster "+policy.Spec.ClusterRef.Name)
	if enforce {
		conditions.set(v1alpha1.ConditionActive, true, reasonEnforce, "PVCs of cluster "+policy.Spec.ClusterRef.Name+" are grown when their triggers fire")
		conditions.set(v1alpha1.ConditionDryRun, false, reasonEnforce, "spec.mode is Enforce")
	} else {
		conditions.set(v1alpha1.ConditionActive, false, reasonDryRun, "spec.mode is DryRun: nothing is patched")
		conditions.set(v1alpha1.ConditionDryRun, true, reasonDryRun, dryRunMessage(result))
	}

	status.QuotaRefusals = outcome.refusals
	switch message := r.quotaBlockedMessage(outcome); {
	case message != "" && len(outcome.refusedNow) > 0:
		conditions.restart(v1alpha1.ConditionBlocked, true, reasonQuotaExceeded, message)
	case message != "":
		conditions.set(v1alpha1.ConditionBlocked, true, reasonQuotaExceeded, message)
	default:
		names, reason, gate := rowsWhere(status.Volumes, func(row v1alpha1.VolumeStatus) bool { return isBlockingGate(row.Gate) })
		if len(names) > 0 {
			conditions.set(v1alpha1.ConditionBlocked, true, gate, summarize(names, reason))
		} else {
			conditions.set(v1alpha1.ConditionBlocked, false, reasonNone, "no growth is held back")
		}
	}

	if names, reason, _ := rowsWhere(status.Volumes, func(row v1alpha1.VolumeStatus) bool { return row.State == v1alpha1.VolumeAtLimit }); len(names) > 0 {
		conditions.set(v1alpha1.ConditionLimitReached, true, reasonLimit, summarize(names, reason))
	} else {
		conditions.set(v1alpha1.ConditionLimitReached, false, reasonNone, "no volume is at its limit")
	}

	if stale := staleInstances(view); len(stale) > 0 {
		conditions.set(v1alpha1.ConditionObservationsStale, true, reasonStale, staleMessage(view, stale))
	} else {
		conditions.set(v1alpha1.ConditionObservationsStale, false, reasonFresh, "every instance has a fresh observation")
	}
	setRejectedCondition(conditions, view)
	if r.Config.MissingSidecars != nil {
		if missing := r.Config.MissingSidecars(view.pods); len(missing) > 0 {
			conditions.set(v1alpha1.ConditionSidecarMissing, true, reasonSidecarMissing,
				restarts.SidecarMissingMessage(policy.Spec.ClusterRef.Name, policy.Namespace, missing))
		} else {
			conditions.set(v1alpha1.ConditionSidecarMissing, false, reasonNone, "every instance pod has the probe sidecar")
		}
	}

	if inFlight := inFlightPVCs(view, outcome); len(inFlight) > 0 {
		conditions.set(v1alpha1.ConditionResizeInProgress, true, reasonInFlight, "growing: "+strings.Join(inFlight, ", "))
	} else {
		conditions.set(v1alpha1.ConditionResizeInProgress, false, reasonNone, "no growth in flight")
	}
	if reason, message := resizeFailures(view, status.History); message != "" {
		conditions.set(v1alpha1.ConditionResizeFailed, true, reason, message)
	} else {
		conditions.set(v1alpha1.ConditionResizeFailed, false, reasonNone, "no growth failed")
	}
	if len(view.unexpandable) > 0 {
		conditions.set(v1alpha1.ConditionStorageClassNotExpandable, true, reasonNotExpandable, notExpandableMessage(view))
	} else {
		conditions.set(v1alpha1.ConditionStorageClassNotExpandable, false, reasonExpandable, "every PVC's StorageClass allows volume expansion")
	}
	if names, reason, _ := rowsWhere(status.Volumes, func(row v1alpha1.VolumeStatus) bool { return row.Gate == string(plan.GateBudget) }); len(names) > 0 {
		conditions.set(v1alpha1.ConditionBudgetExhausted, true, reasonBudget, summarize(names, reason))
	} else if budget.EmergencyLeft == 0 {
		conditions.set(v1alpha1.ConditionBudgetExhausted, true, reasonBudget,
			fmt.Sprintf("all %d growths of the rolling 24h budget are used", policy.Spec.Budget.MaxActionsPerDay))
	} else {
		conditions.set(v1alpha1.ConditionBudgetExhausted, false, reasonNone, "the rolling 24h budget has room")
	}
	status.State = stateOf(status)
	return status, finished, kept
}

// quotaBlockedMessage is the Blocked condition's message while quotas hold
// growths of this reconcile: one line per refusal that refused or held one.
func (r *Reconciler) quotaBlockedMessage(outcome actOutcome) string {
	var lines []string
	for _, name := range sortedKeys(outcome.refused) {
		line := refusalReason(outcome.refused[name], r.Config.QuotaRetryInterval)
		if !slices.Contains(lines, line) {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "; ")
}

// stateOf is status.state: the most urgent thing about the policy.
func stateOf(status v1alpha1.StorageAutoscalePolicyStatus) string {
	is := func(conditionType string) bool { return meta.IsStatusConditionTrue(status.Conditions, conditionType) }
	rowIn := func(state v1alpha1.VolumeState) bool {
		return slices.ContainsFunc(status.Volumes, func(row v1alpha1.VolumeStatus) bool { return row.State == state })
	}
	switch {
	case is(v1alpha1.ConditionConflict):
		return stateConflict
	case !is(v1alpha1.ConditionReady):
		return stateError
	case is(v1alpha1.ConditionResizeFailed), is(v1alpha1.ConditionBlocked), is(v1alpha1.ConditionStorageClassNotExpandable):
		return stateBlocked
	case is(v1alpha1.ConditionDryRun):
		return stateDryRun
	case is(v1alpha1.ConditionResizeInProgress), rowIn(v1alpha1.VolumeGrowing):
		return stateGrowing
	case is(v1alpha1.ConditionLimitReached):
		return stateAtLimit
	case len(status.Pending) > 0:
		return stateQueued
	}
	return stateIdle
}

// rows are the planner's rows, corrected by what act did: a patched PVC
// shows its new request and growth time, a refused one the quota's words,
// and a PVC whose growth failed the failure.
func (r *Reconciler) rows(view *clusterView, result plan.Result, outcome actOutcome, history []v1alpha1.GrowthRecord) []v1alpha1.VolumeStatus {
	failed := latestFailures(view, history)
	rows := make([]v1alpha1.VolumeStatus, 0, len(result.Volumes))
	for _, planRow := range result.Volumes {
		row := planRow.Status()
		if decision, ok := outcome.patched[row.PVC]; ok {
			to := decision.To
			row.Requested = &to
			grownAt := metav1.NewTime(outcome.patchedAt.Truncate(time.Second))
			row.LastGrowth = &grownAt
		}
		if refusal, ok := outcome.refused[row.PVC]; ok {
			row.State = v1alpha1.VolumeBlocked
			row.Gate = reasonQuotaExceeded
			row.Reason = refusalReason(refusal, r.Config.QuotaRetryInterval)
		}
		if message, ok := failed[row.PVC]; ok {
			row.State = v1alpha1.VolumeBlocked
			row.Gate = reasonResizeFailed
			row.Reason = message
		}
		rows = append(rows, row)
	}
	return rows
}

// latestFailures maps each PVC whose latest growth failed, and which still
// requests that growth's size without having reached it, to the failure.
// A PVC whose request was set back below it (an expansion cancelled, as
// Kubernetes 1.34 allows) is no longer held: it grows again when a trigger
// fires.
func latestFailures(view *clusterView, history []v1alpha1.GrowthRecord) map[string]string {
	latest := map[string]v1alpha1.GrowthRecord{}
	for _, record := range history {
		for _, name := range record.PVCs {
			latest[name] = record
		}
	}
	failed := map[string]string{}
	for name, record := range latest {
		state, exists := view.resize[name]
		if record.Outcome == v1alpha1.OutcomeFailed && exists && !state.reachedAtLeast(record.To) && state.request.Cmp(record.To) >= 0 {
			failed[name] = fmt.Sprintf("%s; not retried by the add-on while %s requests %s: it grows again once it has reached that size, "+
				"or after its request is set back to its capacity %s",
				record.Message, name, record.To.String(), state.capacity.String())
		}
	}
	return failed
}

// resizeFailures is the ResizeFailed condition: growths that failed and
// PVCs the driver refuses now.
func resizeFailures(view *clusterView, history []v1alpha1.GrowthRecord) (string, string) {
	failed := latestFailures(view, history)
	reason := reasonResizeFailed
	var messages []string
	for _, name := range sortedKeys(failed) {
		messages = append(messages, failed[name])
		if !view.resize[name].infeasible {
			reason = reasonResizeStuck
		}
	}
	for _, name := range sortedKeys(view.resize) {
		state := view.resize[name]
		if _, known := failed[name]; !known && state.infeasible {
			messages = append(messages, state.failureMessage(name, state.request, 0, 0))
			reason = reasonResizeFailed
		}
	}
	return reason, strings.Join(messages, "; ")
}

func inFlightPVCs(view *clusterView, outcome actOutcome) []string {
	var names []string
	for _, name := range sortedKeys(view.resize) {
		state := view.resize[name]
		if _, patched := outcome.patched[name]; patched {
			names = append(names, name+" (patched now)")
		} else if state.inFlight && !state.infeasible {
			names = append(names, fmt.Sprintf("%s (%s -> %s, %s)", name, state.capacity.String(), state.request.String(), state.phase))
		}
	}
	return names
}

func dryRunMessage(result plan.Result) string {
	if len(result.WouldGrow) == 0 {
		return "spec.mode is DryRun: nothing is patched; no growth would be made now"
	}
	var parts []string
	for _, decision := range result.WouldGrow {
		parts = append(parts, fmt.Sprintf("%s %s -> %s", decision.PVC, decision.From.String(), decision.To.String()))
	}
	return "spec.mode is DryRun: nothing is patched; Enforce would grow " + strings.Join(parts, ", ")
}

// budgetStatus is the plan's budget without the new actions that did not
// happen (every patch of them refused), counted by the planner's rule.
func budgetStatus(result plan.Result, kept []v1alpha1.BudgetAction, spec v1alpha1.BudgetSpec, now time.Time) plan.BudgetUsage {
	dropped := slices.DeleteFunc(slices.Clone(result.NewActions), func(action v1alpha1.BudgetAction) bool {
		return slices.ContainsFunc(kept, func(k v1alpha1.BudgetAction) bool { return equality.Semantic.DeepEqual(k, action) })
	})
	actions := slices.DeleteFunc(slices.Clone(result.Budget.Actions), func(action v1alpha1.BudgetAction) bool {
		return slices.ContainsFunc(dropped, func(d v1alpha1.BudgetAction) bool { return equality.Semantic.DeepEqual(d, action) })
	})
	return plan.BudgetOf(spec, actions, now)
}

// effectiveSizes per role: the largest request after act (a refused patch
// does not raise it). In dry-run the plan's are the current sizes.
func effectiveSizes(view *clusterView, result plan.Result, outcome actOutcome) v1alpha1.EffectiveSizes {
	if view.policy.Spec.Mode == v1alpha1.ModeDryRun {
		return result.StatusEffectiveSizes()
	}
	patchedTo := make(map[string]resource.Quantity, len(outcome.patched))
	for name, decision := range outcome.patched {
		patchedTo[name] = decision.To
	}
	return plan.StatusEffectiveSizes(plan.EffectiveSizesOf(view.plan.PVCs, patchedTo))
}

// requeueAfter is the wait until the next time the plan can change by
// itself: the planner's (window, cooldown, budget, staleness), a growth in
// flight turning stuck, or the quota retry.
func (r *Reconciler) requeueAfter(view *clusterView, result plan.Result, status v1alpha1.StorageAutoscalePolicyStatus) time.Duration {
	at := result.RequeueAt
	consider := func(candidate time.Time) {
		if !candidate.IsZero() && (at.IsZero() || candidate.Before(at)) {
			at = candidate
		}
	}
	consider(growthDeadline(status.History, r.Config.ResizeTimeout))
	consider(quotaRetryAt(status.QuotaRefusals, r.Config.QuotaRetryInterval))
	if at.IsZero() {
		return 0
	}
	return max(at.Sub(view.now), time.Second)
}

// writeStatus patches the status subresource when it changed. The patch
// carries the resourceVersion it was computed from; on a conflict (a spec
// edit meanwhile) it is reapplied to the fresh object, because this
// controller, as leader, is the status's only writer.
func (r *Reconciler) writeStatus(ctx context.Context, policy *v1alpha1.StorageAutoscalePolicy, status v1alpha1.StorageAutoscalePolicyStatus) error {
	if equality.Semantic.DeepEqual(policy.Status, status) {
		return nil
	}
	base := policy
	first := true
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if !first {
			fresh := &v1alpha1.StorageAutoscalePolicy{}
			if err := r.reader().Get(ctx, client.ObjectKeyFromObject(policy), fresh); err != nil {
				return err
			}
			base = fresh
		}
		first = false
		updated := base.DeepCopy()
		updated.Status = status
		return r.Client.Status().Patch(ctx, updated, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
	if err != nil {
		return fmt.Errorf("write status of policy %s/%s: %w", policy.Namespace, policy.Name, err)
	}
	return nil
}

func (r *Reconciler) updateMetrics(view *clusterView, result plan.Result, status v1alpha1.StorageAutoscalePolicyStatus, finished []v1alpha1.GrowthRecord, started []v1alpha1.BudgetAction, outcome actOutcome) {
	namespace, cluster := view.policy.Namespace, view.policy.Spec.ClusterRef.Name
	figures := make([]metrics.VolumeFigures, 0, len(result.Volumes))
	blocked := map[string]int{}
	for index, row := range result.Volumes {
		figures = append(figures, metrics.VolumeFigures{
			Volume:              metrics.Volume{PVC: row.PVC, Role: string(row.Role), Tablespace: row.Tablespace},
			CapacityBytes:       row.Capacity.Value(),
			RequestedBytes:      row.Requested.Value(),
			LimitBytes:          row.LimitBytes,
			Observed:            row.Observed,
			UsedBytes:           row.UsedBytes,
			FreeBytes:           row.FreeBytes,
			TimeToFullSeconds:   row.TimeToFull.Seconds(),
			InodesTotal:         row.InodesTotal,
			InodesFree:          row.InodesFree,
			State:               string(status.Volumes[index].State),
			Gate:                status.Volumes[index].Gate,
			CriticalUsedPercent: row.CriticalUsedPercent,
		})
		if gate := status.Volumes[index].Gate; gate != "" && gate != string(plan.GateNoRule) {
			blocked[gate]++
		}
	}
	r.Metrics.SetCluster(namespace, cluster, figures, blocked)
	r.Metrics.SetConditions(namespace, cluster, conditionValues(status.Conditions))
	r.Metrics.SetWALCause(namespace, cluster, string(result.WALCause))
	left := plan.BudgetOf(view.policy.Spec.Budget, status.Budget.Actions, view.now)
	r.Metrics.SetBudget(namespace, cluster, left.PlannedLeft, left.EmergencyLeft)
	for _, action := range started {
		r.Metrics.CountGrowth(namespace, cluster, string(action.Kind), metrics.OutcomeStarted)
	}
	for _, record := range finished {
		r.Metrics.CountGrowth(namespace, cluster, string(record.Kind), string(record.Outcome))
	}
	for _, refusal := range outcome.refusedNow {
		r.Metrics.CountGrowth(namespace, cluster, string(refusal.Kind), metrics.OutcomeRefused)
	}
}

// conditionValues maps each condition type to whether it is True.
func conditionValues(conditions []metav1.Condition) map[string]bool {
	values := make(map[string]bool, len(conditions))
	for _, condition := range conditions {
		values[condition.Type] = condition.Status == metav1.ConditionTrue
	}
	return values
}
