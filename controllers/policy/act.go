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
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// refusals are the live ResourceQuota refusals after act: those
	// remembered in status whose quota is unchanged and whose retry
	// interval runs, and those of this reconcile (status.quotaRefusals).
	refusals []v1alpha1.QuotaRefusal
	// refusedNow are the refusals made in this reconcile.
	refusedNow []v1alpha1.QuotaRefusal
	// refused maps each PVC not patched because of a quota to the refusal
	// that refused or held it.
	refused map[string]v1alpha1.QuotaRefusal
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
	outcome := actOutcome{patched: map[string]plan.Decision{}, refused: map[string]v1alpha1.QuotaRefusal{}}
	if view.policy.Spec.Mode == v1alpha1.ModeDryRun {
		return outcome
	}
	// First: a filesystem waiting for kubelet is the growth closest to done.
	r.nudgeKubelet(ctx, view)
	r.lowerRequests(ctx, view, result.Retries, &outcome)
	outcome.refusals = view.policy.Status.QuotaRefusals
	if len(outcome.refusals) > 0 || len(result.Decisions) > 0 {
		// Without the quotas, a refusal cannot be told live from lifted:
		// nothing is patched and the reconcile is retried.
		if quotaVersions, err := r.quotaVersions(ctx, view.policy.Namespace); err != nil {
			outcome.err = err
		} else {
			outcome.refusals = liveRefusals(outcome.refusals, quotaVersions, view.now, r.Config.QuotaRetryInterval)
			r.patchPVCs(ctx, view, result.Decisions, result.Budget.Actions, quotaVersions, &outcome)
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

func (r *Reconciler) patchPVCs(ctx context.Context, view *clusterView, decisions []plan.Decision, actions []v1alpha1.BudgetAction, quotaVersions map[string]string, outcome *actOutcome) {
	log := logf.FromContext(ctx)
	for _, decision := range decisions {
		pvc := view.pvcs[decision.PVC]
		if pvc == nil {
			continue
		}
		pvcLog := log.WithValues("pvc", decision.PVC, "role", decision.Role, "from", decision.From.String(), "to", decision.To.String(), "kind", decision.Kind)
		if refusal := quotaHold(outcome.refusals, decision.Kind, storageClassOf(pvc)); refusal != nil {
			// The quota that refused this kind of growth of this class is
			// unchanged and its retry interval runs: asking again now would
			// only be refused again.
			outcome.refused[decision.PVC] = *refusal
			continue
		}
		patchedAt := r.Clock.Now()
		growth := growthOf(decision, actions, patchedAt)
		err := r.patchRequest(ctx, pvc, decision.To, &growth)
		switch {
		case err == nil:
			outcome.patched[decision.PVC] = decision
			outcome.patchedAt = patchedAt
			pvcLog.Info("PVC request raised", "trigger", decision.Trigger, "catchUp", decision.CatchUp)
			r.recordGrowthEvent(view, pvc, decision)
		case isQuotaRefusal(err):
			message := apiMessage(err)
			refusal, named := refusalOf(message, decision, view.now)
			if !named {
				// No quota named: hold every growth of the namespace, as
				// the refusal cannot be told apart.
				refusal = v1alpha1.QuotaRefusal{Kind: decision.Kind, PVC: decision.PVC, Time: metav1.NewTime(view.now.Truncate(time.Second)), Message: message}
			}
			refusal.QuotaVersion = quotaVersions[refusal.Quota]
			outcome.refusals = withRefusal(outcome.refusals, refusal)
			outcome.refusedNow = append(outcome.refusedNow, refusal)
			outcome.refused[decision.PVC] = refusal
			pvcLog.Info("ResourceQuota refused the growth; retrying later", "quota", refusal.Quota, "message", message, "retryIn", r.Config.QuotaRetryInterval)
			r.recordQuotaEvent(view, pvc, decision, message)
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

// patchRequest sets spec.resources.requests.storage to the plan's target
// and, in the same patch, records the growth on the PVC (growthAnnotation),
// so that the growth is never made without its record.
// The resourceVersion read in the snapshot guards the patch: if the PVC
// changed since, the patch is refused with a conflict and the next
// reconcile plans on what is there now, so a patch never lowers a request.
func (r *Reconciler) patchRequest(ctx context.Context, pvc *corev1.PersistentVolumeClaim, to resource.Quantity, growth *pvcGrowth) error {
	metadata := map[string]any{"resourceVersion": pvc.ResourceVersion}
	if growth != nil {
		record, err := encodeGrowth(*growth)
		if err != nil {
			return err
		}
		metadata["annotations"] = map[string]any{growthAnnotation: record}
	}
	body, err := json.Marshal(map[string]any{
		"metadata": metadata,
		"spec": map[string]any{"resources": map[string]any{"requests": map[string]any{
			string(corev1.ResourceStorage): to.String(),
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
