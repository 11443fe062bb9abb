package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// reasonQuotaExceeded is the condition reason (and gate) of a growth a
// namespace ResourceQuota refused.
const reasonQuotaExceeded = "ResourceQuotaExceeded"

// actOutcome is what act did: report describes it.
type actOutcome struct {
	// patched are the decisions whose PVC patch the API server accepted.
	patched map[string]plan.Decision
	// patchedAt is when the patches were made.
	patchedAt time.Time
	// quotaRefusal is the API server's message when a ResourceQuota refused
	// a patch (or refused one recently and the retry interval has not
	// passed: then no patch was attempted).
	quotaRefusal string
	// quotaRefusedNow is true when the refusal happened in this reconcile
	// (rather than being remembered from status), so the retry interval
	// restarts now.
	quotaRefusedNow bool
	// refused are the PVCs not patched because of the quota.
	refused map[string]bool
	// refusedKind is the kind of the growth the quota refused now.
	refusedKind v1alpha1.GrowthKind
	// retried are the retries whose lowering patch the API server accepted.
	retried map[string]plan.Retry
	// clusterRaised describes the Cluster sizes raised by syncClusterSpec.
	clusterRaised []string
	// stale is true when a patch met a PVC changed since the snapshot.
	stale bool
	// err is the first other failure; the reconcile is retried with backoff.
	err error
}

// act nudges kubelet where a filesystem waits for it, patches the PVCs the
// plan says to grow, raises the Cluster's sizes when asked, and emits Events. It never decides: every size comes from
// the plan's absolute targets.
func (r *Reconciler) act(ctx context.Context, view *clusterView, result plan.Result) actOutcome {
	outcome := actOutcome{patched: map[string]plan.Decision{}, refused: map[string]bool{}}
	if view.policy.Spec.Mode == v1alpha1.ModeDryRun {
		return outcome
	}
	// First: a filesystem waiting for kubelet is the growth closest to done.
	r.nudgeKubelet(ctx, view)
	r.lowerRequests(ctx, view, result.Retries, &outcome)
	if len(result.Decisions) > 0 {
		if message, waiting := r.quotaBackoff(view); waiting {
			// A ResourceQuota refused a growth less than the retry interval
			// ago: asking again now would only be refused again.
			outcome.quotaRefusal = message
			for _, decision := range result.Decisions {
				outcome.refused[decision.PVC] = true
			}
		} else {
			r.patchPVCs(ctx, view, result.Decisions, &outcome)
		}
	}
	if view.policy.Spec.SyncClusterSpec && view.cluster != nil {
		raised, err := r.syncClusterSpec(ctx, view)
		outcome.clusterRaised = raised
		if err != nil && outcome.err == nil {
			outcome.err = err
		}
	}
	return outcome
}

func (r *Reconciler) patchPVCs(ctx context.Context, view *clusterView, decisions []plan.Decision, outcome *actOutcome) {
	log := logf.FromContext(ctx)
	for _, decision := range decisions {
		pvc := view.pvcs[decision.PVC]
		if pvc == nil {
			continue
		}
		pvcLog := log.WithValues("pvc", decision.PVC, "role", decision.Role, "from", decision.From.String(), "to", decision.To.String(), "kind", decision.Kind)
		if outcome.quotaRefusal != "" {
			// One refusal says enough: the other PVCs of the namespace
			// fall under the same quota.
			outcome.refused[decision.PVC] = true
			continue
		}
		err := r.patchRequest(ctx, pvc, decision)
		switch {
		case err == nil:
			outcome.patched[decision.PVC] = decision
			outcome.patchedAt = r.Clock.Now()
			pvcLog.Info("PVC request raised", "trigger", decision.Trigger, "catchUp", decision.CatchUp)
			r.recordGrowthEvent(view, pvc, decision)
		case isQuotaRefusal(err):
			outcome.quotaRefusal = apiMessage(err)
			outcome.quotaRefusedNow = true
			outcome.refusedKind = decision.Kind
			outcome.refused[decision.PVC] = true
			pvcLog.Info("ResourceQuota refused the growth; retrying later", "message", outcome.quotaRefusal, "retryIn", r.Config.QuotaRetryInterval)
			r.recordQuotaEvent(view, pvc, decision, outcome.quotaRefusal)
		case apierrors.IsConflict(err):
			// The PVC changed since the snapshot (the cache lags a write):
			// plan again on what is there now, soon, without an error.
			outcome.stale = true
			pvcLog.V(1).Info("PVC changed since the snapshot; planning again")
		default:
			pvcLog.Error(err, "patch PVC request")
			if outcome.err == nil {
				outcome.err = fmt.Errorf("patch PVC %s/%s to %s: %w", pvc.Namespace, pvc.Name, decision.To.String(), err)
			}
		}
	}
	r.observeReaction(view, outcome)
}

// patchRequest sets spec.resources.requests.storage to the plan's target.
// The resourceVersion read in the snapshot guards the patch: if the PVC
// changed since, the patch is refused with a conflict and the next
// reconcile plans on what is there now, so a patch never lowers a request.
func (r *Reconciler) patchRequest(ctx context.Context, pvc *corev1.PersistentVolumeClaim, decision plan.Decision) error {
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": pvc.ResourceVersion},
		"spec": map[string]any{"resources": map[string]any{"requests": map[string]any{
			string(corev1.ResourceStorage): decision.To.String(),
		}}},
	})
	if err != nil {
		return err
	}
	target := &corev1.PersistentVolumeClaim{}
	target.Namespace, target.Name = pvc.Namespace, pvc.Name
	return r.Client.Patch(ctx, target, client.RawPatch(types.MergePatchType, body))
}

// isQuotaRefusal: the ResourceQuota admission plugin answers 403 with
// "exceeded quota: <name>, requested: ..., used: ..., limited: ...".
func isQuotaRefusal(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota")
}

func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		return status.Status().Message
	}
	return err.Error()
}

// quotaBackoff returns the remembered quota refusal while its retry interval
// runs. The refusal lives in the Blocked condition, whose lastTransitionTime
// is the time of the last refused attempt, so a restart keeps the backoff.
func (r *Reconciler) quotaBackoff(view *clusterView) (string, bool) {
	condition := meta.FindStatusCondition(view.policy.Status.Conditions, v1alpha1.ConditionBlocked)
	if condition == nil || condition.Status != "True" || condition.Reason != reasonQuotaExceeded {
		return "", false
	}
	retryAt := condition.LastTransitionTime.Add(r.Config.QuotaRetryInterval)
	if view.now.Before(retryAt) {
		return condition.Message, true
	}
	return "", false
}

// observeReaction records, per growth, the time from the newest observation
// of the instances it patched to the patch: how fast the controller reacted
// to what the sidecar saw. Catch-ups react to no observation and are left out.
func (r *Reconciler) observeReaction(view *clusterView, outcome *actOutcome) {
	type growthKey struct {
		role       v1alpha1.VolumeRole
		tablespace string
		to         string
	}
	newest := map[growthKey]time.Time{}
	kinds := map[growthKey]v1alpha1.GrowthKind{}
	for _, decision := range outcome.patched {
		if decision.CatchUp {
			continue
		}
		key := growthKey{decision.Role, decision.Tablespace, decision.To.String()}
		kinds[key] = decision.Kind
		if at := view.observedAt[decision.Instance]; at.After(newest[key]) {
			newest[key] = at
		}
	}
	for key, observedAt := range newest {
		if observedAt.IsZero() {
			continue
		}
		r.Metrics.ObserveReaction(string(kinds[key]), outcome.patchedAt.Sub(observedAt).Seconds())
	}
}
