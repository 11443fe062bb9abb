package policy

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// Event reasons: what `kubectl get events` and alerting read. Each Event
// is recorded on the object it concerns and, when that is a PVC, also on the
// CNPG Cluster, where users of `kubectl describe cluster` look.
const (
	eventGrowing               = "Growing"
	eventEmergencyGrowing      = "EmergencyGrowing"
	eventGrowthSucceeded       = "GrowthSucceeded"
	eventResizeFailed          = "ResizeFailed"
	eventQuotaExceeded         = reasonQuotaExceeded
	eventStorageClassFixed     = v1alpha1.ConditionStorageClassNotExpandable
	eventClusterSpecSynced     = "ClusterSpecSynced"
	eventKubeletNudged         = "KubeletNudged"
	eventObservationRejected   = "ObservationRejected"
	eventActionGrow            = "Grow"
	eventActionTrackResize     = "TrackResize"
	eventActionSyncClusterSpec = "SyncClusterSpec"
	eventActionNudgeKubelet    = "NudgeKubelet"
	eventActionReadObservation = "ReadObservation"
)

// maxEventNote is the events.k8s.io/v1 limit on an Event's note.
const maxEventNote = 1024

func (r *Reconciler) event(regarding, related runtime.Object, eventType, reason, action, note string) {
	if r.Recorder == nil || regarding == nil {
		return
	}
	if len(note) > maxEventNote {
		note = note[:maxEventNote-3] + "..."
	}
	r.Recorder.Eventf(regarding, related, eventType, reason, action, "%s", note)
}

// onPVCAndCluster records one Event on a PVC and its twin on the Cluster.
func (r *Reconciler) onPVCAndCluster(view *clusterView, pvc *corev1.PersistentVolumeClaim, eventType, reason, action, note string) {
	var cluster runtime.Object
	if view.cluster != nil {
		cluster = view.cluster
	}
	if pvc != nil {
		r.event(pvc, cluster, eventType, reason, action, note)
	}
	if cluster != nil {
		r.event(cluster, pvc, eventType, reason, action, note)
	}
}

func (r *Reconciler) recordGrowthEvent(view *clusterView, pvc *corev1.PersistentVolumeClaim, decision plan.Decision) {
	reason := eventGrowing
	if decision.Kind == v1alpha1.GrowthEmergency && !decision.CatchUp {
		reason = eventEmergencyGrowing
	}
	note := fmt.Sprintf("PVC %s (%s) request raised %s -> %s by policy %s: %s",
		pvc.Name, roleName(decision.Role, decision.Tablespace), decision.From.String(), decision.To.String(), view.policy.Name, decision.Trigger)
	r.onPVCAndCluster(view, pvc, corev1.EventTypeNormal, reason, eventActionGrow, note)
}

func (r *Reconciler) recordQuotaEvent(view *clusterView, pvc *corev1.PersistentVolumeClaim, decision plan.Decision, message string) {
	note := fmt.Sprintf("growth of PVC %s to %s refused by a ResourceQuota; retrying in %s, or at once when the quota changes: %s",
		pvc.Name, decision.To.String(), r.Config.QuotaRetryInterval, message)
	r.onPVCAndCluster(view, pvc, corev1.EventTypeWarning, eventQuotaExceeded, eventActionGrow, note)
}

func (r *Reconciler) recordClusterSyncEvent(view *clusterView, changes []string) {
	r.event(view.cluster, view.policy, corev1.EventTypeNormal, eventClusterSpecSynced, eventActionSyncClusterSpec,
		fmt.Sprintf("policy %s raised %s to match the grown PVCs", view.policy.Name, strings.Join(changes, ", ")))
}

// recordNudgeEvents tells, on each PVC a nudge was first for, that its
// filesystem is being grown now; the pod is the related object.
func (r *Reconciler) recordNudgeEvents(view *clusterView, nudge plan.Nudge) {
	var pod runtime.Object
	for index := range view.pods {
		if view.pods[index].Name == nudge.Pod {
			pod = &view.pods[index]
		}
	}
	for _, name := range nudge.PVCs {
		note := fmt.Sprintf("nudged kubelet to grow the filesystem of %s now (pod %s annotated %s=%s)",
			name, nudge.Pod, plan.NudgeAnnotation, nudge.Value)
		if pvc := view.pvcs[name]; pvc != nil {
			r.event(pvc, pod, corev1.EventTypeNormal, eventKubeletNudged, eventActionNudgeKubelet, note)
		}
	}
}

// recordHistoryEvents tells about growths that finished in this reconcile.
func (r *Reconciler) recordHistoryEvents(view *clusterView, finished []v1alpha1.GrowthRecord) {
	for _, record := range finished {
		switch record.Outcome {
		case v1alpha1.OutcomeSucceeded:
			note := fmt.Sprintf("growth of %s to %s done on %s", roleName(record.Role, record.Tablespace), record.To.String(), strings.Join(record.PVCs, ", "))
			r.event(view.cluster, view.policy, corev1.EventTypeNormal, eventGrowthSucceeded, eventActionTrackResize, note)
		case v1alpha1.OutcomeFailed:
			for _, name := range record.PVCs {
				if pvc := view.pvcs[name]; pvc != nil && !view.resize[name].reachedAtLeast(record.To) {
					r.event(pvc, view.cluster, corev1.EventTypeWarning, eventResizeFailed, eventActionTrackResize, record.Message)
				}
			}
			r.event(view.cluster, view.policy, corev1.EventTypeWarning, eventResizeFailed, eventActionTrackResize, record.Message)
		}
	}
}

// recordStorageClassEvent is recorded once per change of the condition.
func (r *Reconciler) recordStorageClassEvent(view *clusterView, message string) {
	for _, name := range view.unexpandable {
		r.event(view.pvcs[name], view.cluster, corev1.EventTypeWarning, eventStorageClassFixed, eventActionGrow, message)
	}
	r.event(view.cluster, view.policy, corev1.EventTypeWarning, eventStorageClassFixed, eventActionGrow, message)
}

// roleName names a role the way reasons do: "data", "wal", "tablespace idx".
func roleName(role v1alpha1.VolumeRole, tablespace string) string {
	if role == v1alpha1.RoleTablespace && tablespace != "" {
		return "tablespace " + tablespace
	}
	return string(role)
}

// recordRejections tells, once, about each observation rejected now that
// the policy's previous status did not already name for the same reason:
// a Warning Event on the policy (the observation is the related object) and
// a count in pgstorage_observations_rejected_total. Called after the status
// that names them is written, so a failed write does not count twice.
func (r *Reconciler) recordRejections(view *clusterView) {
	previous := ""
	if condition := meta.FindStatusCondition(view.policy.Status.Conditions, v1alpha1.ConditionObservationsRejected); condition != nil &&
		condition.Status == metav1.ConditionTrue {
		previous = condition.Message
	}
	for _, rejected := range view.rejected {
		if strings.Contains(previous, rejected.Message) {
			continue
		}
		r.event(view.policy, rejected.object, corev1.EventTypeWarning, eventObservationRejected, eventActionReadObservation,
			rejected.Message+": ignored as if absent")
		r.Metrics.CountObservationRejected(view.policy.Namespace, view.policy.Spec.ClusterRef.Name, rejected.Reason)
	}
}
