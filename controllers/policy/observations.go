package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// observationClockSkew is how far ahead of the controller's clock an
// observation's observedAt may be: the node's clock and the controller's
// disagree a little, never by minutes. A later observedAt would keep an
// instance "fresh" after its sidecar stopped.
const observationClockSkew = 30 * time.Second

// Why an observation is not believed: the reason label of
// pgstorage_observations_rejected_total and the start of each entry of the
// ObservationsRejected condition.
const (
	rejectForeignInstance = "ForeignInstance"
	rejectPodNotFound     = "PodNotFound"
	rejectForeignCluster  = "ForeignCluster"
	rejectPodUIDMismatch  = "PodUIDMismatch"
	rejectPVCNotMounted   = "PVCNotMounted"
	rejectFromTheFuture   = "FromTheFuture"
)

// rejection is one observation the controller ignores, and why.
type rejection struct {
	// Observation is the StorageObservation's name.
	Observation string
	Reason      string
	Message     string
	object      *v1alpha1.StorageObservation
}

// rejectObservation says whether an observation of cluster may be believed.
// RBAC lets any instance pod's ServiceAccount write observations and the
// admission policy checks the writer's token, but an administrator (or
// anyone admission does not see) can still write one: the controller
// believes an observation only when it agrees with the live pod it is named
// after. pod is that pod among the cluster's instance pods, nil when there
// is none. An observation without status (observedAt unset) is believed:
// it says nothing, and its instance counts as never observed.
func rejectObservation(observation *v1alpha1.StorageObservation, pod *corev1.Pod, cluster string, now time.Time) (rejection, bool) {
	name := observation.Name
	reject := func(reason, format string, args ...any) (rejection, bool) {
		return rejection{
			Observation: name,
			Reason:      reason,
			Message:     fmt.Sprintf("%s: StorageObservation %s ", reason, name) + fmt.Sprintf(format, args...),
			object:      observation,
		}, true
	}
	switch {
	case observation.Spec.Instance != name:
		return reject(rejectForeignInstance, "claims spec.instance %s, but an observation describes only the pod it is named after",
			observation.Spec.Instance)
	case pod == nil:
		return reject(rejectPodNotFound, "names no instance pod of cluster %s (a deleted pod's observation is garbage-collected with it)", cluster)
	case pod.Labels[labelCluster] != cluster:
		return reject(rejectForeignCluster, "claims cluster %s, but pod %s belongs to cluster %q (label %s)",
			cluster, pod.Name, pod.Labels[labelCluster], labelCluster)
	case observation.Spec.PodUID != string(pod.UID):
		return reject(rejectPodUIDMismatch, "was written for pod UID %s, but pod %s has UID %s (a re-created pod's sidecar replaces it when it first reports)",
			observation.Spec.PodUID, pod.Name, pod.UID)
	}
	mounted := mountedClaims(pod)
	for _, volume := range observation.Status.Volumes {
		if volume.PVC != "" && !slices.Contains(mounted, volume.PVC) {
			return reject(rejectPVCNotMounted, "reports volume %s on PVC %s, which pod %s does not mount (it mounts %s)",
				volume.Name, volume.PVC, pod.Name, strings.Join(mounted, ", "))
		}
	}
	if at := observation.Status.ObservedAt; at != nil && at.Sub(now) > observationClockSkew {
		return reject(rejectFromTheFuture, "has observedAt %s, more than %s ahead of the controller's clock",
			at.UTC().Format(time.RFC3339), observationClockSkew)
	}
	return rejection{}, false
}

// mountedClaims are the PVCs a pod mounts, sorted.
func mountedClaims(pod *corev1.Pod) []string {
	var claims []string
	for _, volume := range pod.Spec.Volumes {
		if volume.PersistentVolumeClaim != nil {
			claims = append(claims, volume.PersistentVolumeClaim.ClaimName)
		}
	}
	slices.Sort(claims)
	return claims
}

// rejectedMessage is the ObservationsRejected condition's message.
func rejectedMessage(rejected []rejection) string {
	entries := make([]string, 0, len(rejected))
	for _, r := range rejected {
		entries = append(entries, r.Message)
	}
	return "ignored, the volumes are decided on as if these observations did not exist: " + strings.Join(entries, "; ") +
		". A probe sidecar writes only its own pod's observation; find who wrote these in their managedFields (kubectl get storageobservation NAME -o yaml --show-managed-fields)"
}

// rejectionOf is the rejected observation named name, if any.
func rejectionOf(rejected []rejection, name string) (rejection, bool) {
	index := slices.IndexFunc(rejected, func(r rejection) bool { return r.Observation == name })
	if index < 0 {
		return rejection{}, false
	}
	return rejected[index], true
}
