package policy

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

func TestAGrowthRecordReadsBackAsWritten(t *testing.T) {
	for _, growth := range []pvcGrowth{
		{Kind: v1alpha1.GrowthPlanned, Role: v1alpha1.RoleData, From: resource.MustParse("10Gi"), To: resource.MustParse("12Gi"),
			Time: metav1.NewTime(time.Date(2025, 3, 1, 2, 3, 4, 0, time.UTC)), Trigger: "usedPercent 85 >= 80 on orders-1"},
		{Kind: v1alpha1.GrowthEmergency, Role: v1alpha1.RoleTablespace, Tablespace: "archive", Instance: "orders-2",
			From: resource.MustParse("1500Mi"), To: resource.MustParse("2Gi"), Time: metav1.NewTime(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))},
		{Kind: v1alpha1.GrowthPlanned, Role: v1alpha1.RoleWAL, From: resource.MustParse("2Gi"), To: resource.MustParse("3Gi"),
			Time: metav1.NewTime(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)), CatchUp: true},
	} {
		value, err := encodeGrowth(growth)
		if err != nil {
			t.Fatal(err)
		}
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{growthAnnotation: value}}}
		got, ok, err := decodeGrowth(pvc)
		if err != nil || !ok || !equality.Semantic.DeepEqual(got, growth) {
			t.Errorf("%s read back as %+v (ok %v, err %v); want %+v", value, got, ok, err, growth)
		}
	}
}

func TestABrokenGrowthRecordIsAnErrorThatNamesTheAnnotationAndTheFix(t *testing.T) {
	for _, value := range []string{`not json`, `{"kind":"Planned","role":"data","to":"12Gi"}`, `{"kind":"Sometimes","role":"data","to":"12Gi","time":"2025-03-01T00:00:00Z"}`} {
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "orders-1", Annotations: map[string]string{growthAnnotation: value}}}
		_, ok, err := decodeGrowth(pvc)
		if ok || err == nil || !strings.Contains(err.Error(), growthAnnotation) || !strings.Contains(err.Error(), "db/orders-1") || !strings.Contains(err.Error(), "remove the annotation") {
			t.Errorf("%s: ok %v, err %v", value, ok, err)
		}
	}
	if _, ok, err := decodeGrowth(&corev1.PersistentVolumeClaim{}); ok || err != nil {
		t.Errorf("a PVC without the annotation: ok %v, err %v", ok, err)
	}
}

func TestAGrowthRecordTakesItsTimeFromTheGrowthsBudgetAction(t *testing.T) {
	patchedAt := time.Date(2025, 3, 1, 12, 0, 7, 500, time.UTC)
	began := metav1.NewTime(time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC))
	actions := []v1alpha1.BudgetAction{
		{Time: began, Kind: v1alpha1.GrowthEmergency, Role: v1alpha1.RoleData, Instance: "orders-2", To: resource.MustParse("12Gi")},
	}
	decision := plan.Decision{PVC: "orders-2", Instance: "orders-2", Role: v1alpha1.RoleData, From: resource.MustParse("10Gi"), To: resource.MustParse("12Gi"), Kind: v1alpha1.GrowthEmergency, Trigger: "t"}
	if got := growthOf(decision, actions, patchedAt); !got.Time.Equal(&began) || got.Instance != "orders-2" || got.CatchUp {
		t.Errorf("growth %+v; want the action's time and instance", got)
	}
	decision.CatchUp = true
	if got := growthOf(decision, actions, patchedAt); !got.CatchUp || !got.Time.Time.Equal(patchedAt.Truncate(time.Second)) {
		t.Errorf("catch-up %+v; want stamped when patched", got)
	}
}

func TestRebuildGrowthsAddsWhatStatusLacks(t *testing.T) {
	now := time.Date(2025, 3, 2, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) metav1.Time { return metav1.NewTime(now.Add(-ago)) }
	q := resource.MustParse
	data12 := func(ago time.Duration, catchUp bool) pvcGrowth {
		return pvcGrowth{Kind: v1alpha1.GrowthPlanned, Role: v1alpha1.RoleData, From: q("10Gi"), To: q("12Gi"), Time: at(ago), Trigger: "usedPercent 85 >= 80", CatchUp: catchUp}
	}
	entry := func(ago time.Duration, outcome v1alpha1.GrowthOutcome, pvcs ...string) v1alpha1.GrowthRecord {
		return v1alpha1.GrowthRecord{Time: at(ago), Role: v1alpha1.RoleData, PVCs: pvcs, From: q("10Gi"), To: q("12Gi"), Kind: v1alpha1.GrowthPlanned, Trigger: "usedPercent 85 >= 80", Outcome: outcome}
	}
	action := func(ago time.Duration) v1alpha1.BudgetAction {
		return v1alpha1.BudgetAction{Time: at(ago), Kind: v1alpha1.GrowthPlanned, Role: v1alpha1.RoleData, To: q("12Gi")}
	}
	older := v1alpha1.GrowthRecord{Time: at(3 * time.Hour), Role: v1alpha1.RoleWAL, PVCs: []string{"orders-1-wal"}, From: q("2Gi"), To: q("3Gi"), Kind: v1alpha1.GrowthPlanned, Outcome: v1alpha1.OutcomeSucceeded}
	newer := older
	newer.Time = at(time.Minute)
	full := make([]v1alpha1.GrowthRecord, v1alpha1.HistoryLength)
	for index := range full {
		full[index] = older
		full[index].Time = at(time.Duration(v1alpha1.HistoryLength-index) * time.Minute)
	}

	for _, tc := range []struct {
		name        string
		history     []v1alpha1.GrowthRecord
		budget      []v1alpha1.BudgetAction
		recorded    map[string]pvcGrowth
		reached     map[string]bool
		wantHistory []v1alpha1.GrowthRecord
		wantBudget  []v1alpha1.BudgetAction
	}{
		{
			name:        "a growth status lost is rebuilt in progress and charged once",
			recorded:    map[string]pvcGrowth{"orders-2": data12(time.Hour, false), "orders-1": data12(time.Hour, false)},
			wantHistory: []v1alpha1.GrowthRecord{entry(time.Hour, v1alpha1.OutcomeInProgress, "orders-1", "orders-2")},
			wantBudget:  []v1alpha1.BudgetAction{action(time.Hour)},
		},
		{
			name:        "a lost growth every PVC of which reached the size is rebuilt succeeded",
			recorded:    map[string]pvcGrowth{"orders-1": data12(time.Hour, false), "orders-2": data12(time.Hour, false)},
			reached:     map[string]bool{"orders-1": true, "orders-2": true},
			wantHistory: []v1alpha1.GrowthRecord{entry(time.Hour, v1alpha1.OutcomeSucceeded, "orders-1", "orders-2")},
			wantBudget:  []v1alpha1.BudgetAction{action(time.Hour)},
		},
		{
			name:        "a growth status has is left as it is",
			history:     []v1alpha1.GrowthRecord{entry(time.Hour, v1alpha1.OutcomeFailed, "orders-1")},
			budget:      []v1alpha1.BudgetAction{action(time.Hour)},
			recorded:    map[string]pvcGrowth{"orders-1": data12(time.Hour, false)},
			wantHistory: []v1alpha1.GrowthRecord{entry(time.Hour, v1alpha1.OutcomeFailed, "orders-1")},
			wantBudget:  []v1alpha1.BudgetAction{action(time.Hour)},
		},
		{
			name:        "a PVC that joined a growth in progress is added to its entry",
			history:     []v1alpha1.GrowthRecord{entry(time.Hour, v1alpha1.OutcomeInProgress, "orders-1")},
			budget:      []v1alpha1.BudgetAction{action(time.Hour)},
			recorded:    map[string]pvcGrowth{"orders-1": data12(time.Hour, false), "orders-3": data12(time.Hour, false)},
			wantHistory: []v1alpha1.GrowthRecord{entry(time.Hour, v1alpha1.OutcomeInProgress, "orders-1", "orders-3")},
			wantBudget:  []v1alpha1.BudgetAction{action(time.Hour)},
		},
		{
			name:        "the same size grown again later is another growth",
			history:     []v1alpha1.GrowthRecord{entry(5*time.Hour, v1alpha1.OutcomeFailed, "orders-1")},
			budget:      []v1alpha1.BudgetAction{action(5 * time.Hour)},
			recorded:    map[string]pvcGrowth{"orders-1": data12(time.Hour, false)},
			wantHistory: []v1alpha1.GrowthRecord{entry(5*time.Hour, v1alpha1.OutcomeFailed, "orders-1"), entry(time.Hour, v1alpha1.OutcomeInProgress, "orders-1")},
			wantBudget:  []v1alpha1.BudgetAction{action(5 * time.Hour), action(time.Hour)},
		},
		{
			name:        "a rebuilt entry takes its place by time, newest last",
			history:     []v1alpha1.GrowthRecord{older, newer},
			recorded:    map[string]pvcGrowth{"orders-1": data12(time.Hour, false)},
			wantHistory: []v1alpha1.GrowthRecord{older, entry(time.Hour, v1alpha1.OutcomeInProgress, "orders-1"), newer},
			wantBudget:  []v1alpha1.BudgetAction{action(time.Hour)},
		},
		{
			name:        "a growth older than 24h is history but no longer charged",
			recorded:    map[string]pvcGrowth{"orders-1": data12(25*time.Hour, false)},
			wantHistory: []v1alpha1.GrowthRecord{entry(25*time.Hour, v1alpha1.OutcomeInProgress, "orders-1")},
		},
		{
			name:        "a growth older than a full history's oldest entry is left out",
			history:     full,
			recorded:    map[string]pvcGrowth{"orders-1": data12(time.Hour, false)},
			wantHistory: full,
			wantBudget:  []v1alpha1.BudgetAction{action(time.Hour)},
		},
		{
			name:     "a catch-up is no growth",
			recorded: map[string]pvcGrowth{"orders-4": data12(time.Minute, true)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rebuildGrowths(tc.history, tc.budget, tc.recorded, tc.reached, now)
			if !equality.Semantic.DeepEqual(got.history, tc.wantHistory) && (len(got.history)+len(tc.wantHistory) > 0) {
				t.Errorf("history\n got %+v\nwant %+v", got.history, tc.wantHistory)
			}
			if !equality.Semantic.DeepEqual(got.budget, tc.wantBudget) && (len(got.budget)+len(tc.wantBudget) > 0) {
				t.Errorf("budget\n got %+v\nwant %+v", got.budget, tc.wantBudget)
			}
			for name, growth := range tc.recorded {
				if !got.lastGrowth[name].Equal(growth.Time.Time) {
					t.Errorf("lastGrowth of %s is %s, want %s", name, got.lastGrowth[name], growth.Time.Time)
				}
			}
		})
	}
}
