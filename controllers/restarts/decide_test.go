package restarts

import (
	"strings"
	"testing"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/admission"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/cnpgnames"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv/cnpgtest"
)

// Pure tests of the decisions; the reconciler is tested on the real API
// server in reconciler_test.go.

func TestDecideRestartRules(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	healthy := cnpgtest.NewCluster("db", "orders", cnpgtest.Shape{})
	healthy.Status.Phase = cnpgv1.PhaseHealthy
	failing := healthy.DeepCopy()
	failing.Status.Phase = "Failing over"
	pod := func(name string, created time.Time, withSidecar bool) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.Time{Time: created},
			Labels: map[string]string{cnpgnames.PodRoleLabel: cnpgnames.PodRoleInstance, cnpgnames.ClusterLabel: "orders"}}}
		if withSidecar {
			p.Spec.InitContainers = []corev1.Container{{Name: admission.SidecarName}}
		}
		return p
	}
	old := pod("orders-1", now.Add(-48*time.Hour), false)
	cases := []struct {
		name        string
		on          bool
		cluster     *cnpgv1.Cluster
		pods        []corev1.Pod
		last        time.Time
		wantRestart bool
		wantRetry   time.Duration
		wantReason  string
	}{
		{"off: never", false, healthy, []corev1.Pod{old}, time.Time{}, false, 0, "restartExisting is false"},
		{"a pod without the sidecar and no earlier restart: restart", true, healthy, []corev1.Pod{old}, time.Time{}, true, 0, "orders-1"},
		{"every pod has the sidecar: nothing", true, healthy, []corev1.Pod{pod("orders-1", now, true)}, time.Time{}, false, 0, "every instance pod"},
		{"an unhealthy cluster waits", true, failing, []corev1.Pod{old}, time.Time{}, false, time.Minute, "to be healthy"},
		{"within the hour: wait for the rest of it", true, healthy, []corev1.Pod{old}, now.Add(-20 * time.Minute), false, 40 * time.Minute, "the next may be"},
		{"after the hour: again", true, healthy, []corev1.Pod{old}, now.Add(-61 * time.Minute), true, 0, ""},
		{"a pod created after our restart still lacks it: the webhook is broken, never again", true, healthy,
			[]corev1.Pod{pod("orders-2", now.Add(-time.Minute), false)}, now.Add(-2 * time.Hour), false, 0, "webhook is not injecting"},
		{"a terminating pod does not count", true, healthy, []corev1.Pod{func() corev1.Pod {
			p := old
			p.DeletionTimestamp = &metav1.Time{Time: now}
			return p
		}()}, time.Time{}, false, 0, "every instance pod"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := DecideRestart(tc.on, tc.cluster, tc.pods, tc.last, now)
			if d.Restart != tc.wantRestart || d.RetryAfter != tc.wantRetry || !strings.Contains(d.Reason, tc.wantReason) {
				t.Errorf("got %+v, want restart %v retry %s reason ~%q", d, tc.wantRestart, tc.wantRetry, tc.wantReason)
			}
		})
	}
}

func TestSidecarMissingNamesLivePodsWithoutTheSidecar(t *testing.T) {
	mk := func(name string, sidecar bool, phase corev1.PodPhase, role string) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{cnpgnames.PodRoleLabel: role}}}
		p.Status.Phase = phase
		if sidecar {
			p.Spec.InitContainers = []corev1.Container{{Name: admission.SidecarName}}
		}
		return p
	}
	pods := []corev1.Pod{
		mk("orders-3", false, corev1.PodRunning, "instance"),
		mk("orders-1", false, corev1.PodPending, "instance"),
		mk("orders-2", true, corev1.PodRunning, "instance"),
		mk("orders-4", false, corev1.PodFailed, "instance"),
		mk("orders-join", false, corev1.PodRunning, ""),
	}
	if got := strings.Join(SidecarMissing(pods), ","); got != "orders-1,orders-3" {
		t.Errorf("SidecarMissing %s, want orders-1,orders-3", got)
	}
	msg := SidecarMissingMessage("orders", "db", []string{"orders-1"})
	for _, want := range []string{"orders-1", "kubectl cnpg restart orders -n db", "spec.injection.restartExisting: true"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}
