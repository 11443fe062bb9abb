package restarts

import (
	"fmt"
	"strings"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	corev1 "k8s.io/api/core/v1"
)

// Annotations on the CNPG Cluster. restartedAt is CNPG's own (what
// `kubectl cnpg restart` sets: a rolling restart, replicas first, then a
// switchover); last-restart is ours, written in the same patch, so the
// once-an-hour rule survives a controller restart.
const (
	ClusterRestartAnnotation = "kubectl.kubernetes.io/restartedAt"
	LastRestartAnnotation    = "pgstorage.io/last-restart"
	// RestartInterval is the least time between two restarts we ask for.
	RestartInterval = time.Hour
)

// RestartDecision says whether to ask CNPG for a rolling restart now.
type RestartDecision struct {
	Restart bool
	// Reason is for logs and Events: why, or why not.
	Reason string
	// RetryAfter, when positive, is when the answer may change by itself.
	RetryAfter time.Duration
}

// DecideRestart decides, purely, whether the controller asks CNPG to roll a
// cluster whose pods lack the sidecar (spec.injection.restartExisting):
// at most once per RestartInterval, only while the cluster is healthy, and
// never again when a pod created after our last restart still lacks the
// sidecar (the webhook is not injecting; another restart would not help and
// would only roll the cluster every hour). lastRestart is zero when there
// was none.
func DecideRestart(restartExisting bool, cluster *cnpgv1.Cluster, pods []corev1.Pod, lastRestart, now time.Time) RestartDecision {
	if !restartExisting {
		return RestartDecision{Reason: "spec.injection.restartExisting is false"}
	}
	if cluster == nil {
		return RestartDecision{Reason: "the cluster does not exist"}
	}
	missing := withoutSidecar(pods)
	if len(missing) == 0 {
		return RestartDecision{Reason: "every instance pod has the sidecar"}
	}
	if phase := cluster.Status.Phase; phase != cnpgv1.PhaseHealthy {
		return RestartDecision{Reason: fmt.Sprintf("waiting for cluster %s to be healthy (phase %q) before a rolling restart", cluster.Name, phase),
			RetryAfter: time.Minute}
	}
	if !lastRestart.IsZero() {
		for _, p := range missing {
			if p.CreationTimestamp.After(lastRestart) {
				return RestartDecision{Reason: fmt.Sprintf("pod %s was created after the restart at %s and still lacks the sidecar: "+
					"the webhook is not injecting; not restarting again (check the controller's webhook server)",
					p.Name, lastRestart.UTC().Format(time.RFC3339))}
			}
		}
		if next := lastRestart.Add(RestartInterval); now.Before(next) {
			return RestartDecision{Reason: fmt.Sprintf("the last restart was at %s; the next may be at %s",
				lastRestart.UTC().Format(time.RFC3339), next.UTC().Format(time.RFC3339)), RetryAfter: next.Sub(now)}
		}
	}
	return RestartDecision{Restart: true, Reason: fmt.Sprintf("rolling restart so that %s get the sidecar", strings.Join(podNames(missing), ", "))}
}
