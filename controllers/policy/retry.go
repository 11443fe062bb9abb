package policy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// eventGrowthRetried: a request the storage driver refused was lowered to a
// smaller growth (onInfeasible: Retry).
const eventGrowthRetried = "GrowthRetried"

// lowerRequests makes the plan's retries: each PVC's refused request is
// lowered to the plan's smaller target. The resourceVersion of the snapshot
// guards the patch as for a growth; a conflict plans again.
func (r *Reconciler) lowerRequests(ctx context.Context, view *clusterView, retries []plan.Retry, outcome *actOutcome) {
	log := logf.FromContext(ctx)
	for _, retry := range retries {
		pvc := view.pvcs[retry.PVC]
		if pvc == nil {
			continue
		}
		// No growth record: the retry replaces the refused growth, whose
		// record (and budget action) stands; history marks the retry.
		err := r.patchRequest(ctx, pvc, retry.To, nil)
		switch {
		case err == nil:
			if outcome.retried == nil {
				outcome.retried = map[string]plan.Retry{}
			}
			outcome.retried[retry.PVC] = retry
			// The PVC's status (Infeasible, about the refused size) no longer
			// speaks for its request: read it again, so that report does not
			// judge the retry failed as it starts.
			view.resize[retry.PVC] = view.resize[retry.PVC].withRequest(retry.To)
			note := fmt.Sprintf("growth to %s refused (%s); request lowered to %s, once", retry.Refused.String(), retry.Refusal(), retry.To.String())
			log.Info("PVC request lowered after an infeasible growth", "pvc", retry.PVC, "refused", retry.Refused.String(), "to", retry.To.String(), "refusal", retry.Refusal())
			r.onPVCAndCluster(view, pvc, corev1.EventTypeNormal, eventGrowthRetried, eventActionTrackResize, note)
		case apierrors.IsConflict(err):
			outcome.stale = true
		default:
			log.Error(err, "lower PVC request after an infeasible growth", "pvc", retry.PVC)
			if outcome.err == nil {
				outcome.err = fmt.Errorf("lower PVC %s/%s to %s after an infeasible growth: %w", pvc.Namespace, pvc.Name, retry.To.String(), err)
			}
		}
	}
}

// recordRetries marks each refused growth that was retried Failed with the
// driver's words, and adds one InProgress entry per retry (PVCs lowered to
// the same size from the same refused size share it). It returns the
// history and the entries that failed now.
func recordRetries(history []v1alpha1.GrowthRecord, retried map[string]plan.Retry, at time.Time) ([]v1alpha1.GrowthRecord, []v1alpha1.GrowthRecord) {
	if len(retried) == 0 {
		return history, nil
	}
	history = slices.Clone(history)
	var failed []v1alpha1.GrowthRecord
	added := map[string]int{}
	for _, name := range slices.Sorted(maps.Keys(retried)) {
		retry := retried[name]
		for index := range history {
			record := &history[index]
			if record.Time.Equal(&retry.RefusedGrowth) && !record.Retry && slices.Contains(record.PVCs, name) &&
				record.Outcome == v1alpha1.OutcomeInProgress {
				record.Outcome = v1alpha1.OutcomeFailed
				driver := retry.Message
				if driver == "" {
					driver = "the storage driver gave no message"
				}
				record.Message = fmt.Sprintf("growth of PVC %s to %s failed (%s): %s", name, record.To.String(), retry.Status, driver)
				failed = append(failed, *record)
			}
		}
		key := fmt.Sprintf("%s/%s/%s/%s", retry.Role, retry.Tablespace, retry.Refused.String(), retry.To.String())
		if index, ok := added[key]; ok {
			history[index].PVCs = append(history[index].PVCs, name)
			continue
		}
		added[key] = len(history)
		// Never older than the growth it replaces, whose time (its budget
		// action's) is rounded up to the second.
		stamp := metav1.NewTime(at.Truncate(time.Second))
		if stamp.Before(&retry.RefusedGrowth) {
			stamp = retry.RefusedGrowth
		}
		history = append(history, v1alpha1.GrowthRecord{
			Time:       stamp,
			Role:       retry.Role,
			Tablespace: retry.Tablespace,
			PVCs:       []string{name},
			From:       retry.Refused,
			To:         retry.To,
			Kind:       retry.Kind,
			Trigger:    fmt.Sprintf("retry at half the step after the growth to %s was refused (%s)", retry.Refused.String(), retry.Refusal()),
			Outcome:    v1alpha1.OutcomeInProgress,
			Retry:      true,
		})
	}
	return history, failed
}

// withRequest is the state read again with another request.
func (s resizeState) withRequest(request resource.Quantity) resizeState {
	s.request = request
	return s.read()
}
