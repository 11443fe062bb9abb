package restarts

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/admission"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/cnpgnames"
)

// SidecarMissing names the instance pods that run without the probe: live
// CNPG instance pods (not terminating, not finished) with no pgstorage-probe
// container, sorted. It is the hook controllers/policy calls for the
// SidecarMissing condition (policy.Config.MissingSidecars).
func SidecarMissing(pods []corev1.Pod) []string {
	return podNames(withoutSidecar(pods))
}

// SidecarMissingMessage is the condition message for the pods SidecarMissing
// names: which pods, what it means, and the fix.
func SidecarMissingMessage(cluster, namespace string, missing []string) string {
	return fmt.Sprintf("pods %s run without the %s sidecar (created while the webhook was down, or before the policy existed), "+
		"so their volumes are not measured; restart them so the webhook injects it: kubectl cnpg restart %s -n %s "+
		"(a rolling restart, replicas first), or set spec.injection.restartExisting: true",
		strings.Join(missing, ", "), admission.SidecarName, cluster, namespace)
}

// withoutSidecar are the live instance pods that lack the probe, in the
// order given. Whether a pod has it is the webhook's own test
// (admission.HasSidecar).
func withoutSidecar(pods []corev1.Pod) []*corev1.Pod {
	var missing []*corev1.Pod
	for i := range pods {
		p := &pods[i]
		if isInstancePod(p.Labels) && p.DeletionTimestamp.IsZero() &&
			p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed &&
			!admission.HasSidecar(p) {
			missing = append(missing, p)
		}
	}
	return missing
}

func isInstancePod(labels map[string]string) bool {
	return labels[cnpgnames.PodRoleLabel] == cnpgnames.PodRoleInstance
}

func podNames(pods []*corev1.Pod) []string {
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	sort.Strings(names)
	return names
}
