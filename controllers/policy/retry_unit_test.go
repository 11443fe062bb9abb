package policy

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// A retry made in the second its refused growth was patched (the sandbox's
// driver refuses at once) must not be stamped before that growth: a growth
// is stamped with its budget action's time, rounded up to the second, so
// the retry, rounded down, read as older than the growth it replaces, and
// the history showed the failure after the retry that fixed it (seen on
// the sandbox, E2E #20b).
func TestARetryIsNeverOlderThanTheGrowthItReplaces(t *testing.T) {
	patched := time.Date(2026, 12, 3, 3, 53, 49, 400_000_000, time.UTC)
	growthTime := metav1.NewTime(patched.Truncate(time.Second).Add(time.Second)) // the budget's ceiling
	history := []v1alpha1.GrowthRecord{{
		Time: growthTime, Role: v1alpha1.RoleData, PVCs: []string{"payments-1"},
		From: resource.MustParse("3Gi"), To: resource.MustParse("5Gi"), Kind: v1alpha1.GrowthPlanned,
		Outcome: v1alpha1.OutcomeInProgress,
	}}
	retried := map[string]plan.Retry{"payments-1": {
		PVC: "payments-1", Role: v1alpha1.RoleData, Refused: resource.MustParse("5Gi"), To: resource.MustParse("4Gi"),
		Kind: v1alpha1.GrowthPlanned, RefusedGrowth: growthTime, Status: "ControllerResizeInfeasible", Message: "too big",
	}}
	got, failed := recordRetries(history, retried, patched.Add(300*time.Millisecond))
	if len(failed) != 1 || len(got) != 2 {
		t.Fatalf("failed %d, history %d: %+v", len(failed), len(got), got)
	}
	if retry := got[1]; !retry.Retry || retry.Time.Before(&got[0].Time) {
		t.Errorf("the retry is stamped %s, before the growth it replaces (%s)", retry.Time, got[0].Time)
	}
}
