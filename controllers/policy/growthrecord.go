package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// growthAnnotation records on a PVC the growth that last raised its
// request, written in the same patch as the request. The policy status
// (history, budget, lastGrowth) is written later, by report: a crash, an
// API error or an exhausted conflict retry in between would lose the growth,
// so it would never be charged to the budget and the cooldown and
// "awaiting measurement" guards would not see it. The snapshot rebuilds from
// this annotation what status lacks.
const growthAnnotation = "pgstorage.io/last-growth"

// pvcGrowth is the value of growthAnnotation.
type pvcGrowth struct {
	Kind       v1alpha1.GrowthKind `json:"kind"`
	Role       v1alpha1.VolumeRole `json:"role"`
	Tablespace string              `json:"tablespace,omitempty"`
	// Instance is the budget action's instance (PerInstance sizing only).
	Instance string            `json:"instance,omitempty"`
	From     resource.Quantity `json:"from"`
	To       resource.Quantity `json:"to"`
	// Time is the budget action's time: with Role, Tablespace and To it
	// names the growth in status.history and status.budget.
	Time    metav1.Time `json:"time"`
	Trigger string      `json:"trigger,omitempty"`
	// CatchUp: a new replica's PVC raised to its role's size, which is no
	// growth (no history entry, no budget action) but starts its cooldown.
	CatchUp bool `json:"catchUp,omitempty"`
}

// growthOf is the record of a decision. The growth's budget action (added
// by this plan, or recorded when the growth began in an earlier reconcile)
// gives its time; a catch-up, which has none, is stamped patchedAt.
func growthOf(decision plan.Decision, actions []v1alpha1.BudgetAction, patchedAt time.Time) pvcGrowth {
	growth := pvcGrowth{
		Kind: decision.Kind, Role: decision.Role, Tablespace: decision.Tablespace,
		From: decision.From, To: decision.To, Trigger: decision.Trigger, CatchUp: decision.CatchUp,
		Time: metav1.NewTime(patchedAt.Truncate(time.Second)),
	}
	if decision.CatchUp {
		return growth
	}
	for _, action := range slices.Backward(actions) {
		if actionCovers(action, decision) {
			growth.Time, growth.Instance, growth.Kind = action.Time, action.Instance, action.Kind
			break
		}
	}
	return growth
}

func encodeGrowth(growth pvcGrowth) (string, error) {
	value, err := json.Marshal(growth)
	if err != nil {
		return "", fmt.Errorf("encode annotation %s: %w", growthAnnotation, err)
	}
	return string(value), nil
}

// decodeGrowth reads growthAnnotation of a PVC; ok is false when it has none.
func decodeGrowth(pvc *corev1.PersistentVolumeClaim) (growth pvcGrowth, ok bool, err error) {
	value, found := pvc.Annotations[growthAnnotation]
	if !found {
		return pvcGrowth{}, false, nil
	}
	fail := func(why string) (pvcGrowth, bool, error) {
		return pvcGrowth{}, false, fmt.Errorf("annotation %s of PVC %s/%s is %q: %s; remove the annotation "+
			"(the add-on writes it again at the PVC's next growth)", growthAnnotation, pvc.Namespace, pvc.Name, value, why)
	}
	if err := json.Unmarshal([]byte(value), &growth); err != nil {
		return fail("not the JSON the add-on writes: " + err.Error())
	}
	switch {
	case growth.Time.IsZero():
		return fail("time is missing")
	case growth.To.Sign() <= 0:
		return fail("to is missing")
	case growth.Role == "":
		return fail("role is missing")
	case growth.Kind != v1alpha1.GrowthPlanned && growth.Kind != v1alpha1.GrowthEmergency:
		return fail(fmt.Sprintf("kind %q is neither %s nor %s", growth.Kind, v1alpha1.GrowthPlanned, v1alpha1.GrowthEmergency))
	}
	return growth, true, nil
}

// rebuiltGrowths is what the PVCs' growth records add to the status.
type rebuiltGrowths struct {
	history []v1alpha1.GrowthRecord
	budget  []v1alpha1.BudgetAction
	// lastGrowth is each recorded PVC's last growth (catch-ups included).
	lastGrowth map[string]time.Time
}

// rebuildGrowths adds to the status's history and budget the growths the
// PVCs record and the status lacks (same role, tablespace, size and time): a
// history entry, in progress or, when every PVC named reached the size
// (reached), succeeded; and a budget action while it is inside the rolling
// 24h window. A PVC that joined a growth in progress is added to its entry.
// A growth older than a full history's oldest entry is left out, as
// boundHistory would drop it.
func rebuildGrowths(history []v1alpha1.GrowthRecord, budget []v1alpha1.BudgetAction, recorded map[string]pvcGrowth, reached map[string]bool, now time.Time) rebuiltGrowths {
	out := rebuiltGrowths{history: slices.Clone(history), budget: slices.Clone(budget), lastGrowth: map[string]time.Time{}}
	type growthKey struct {
		kind             v1alpha1.GrowthKind
		role             v1alpha1.VolumeRole
		tablespace, inst string
		to               string
		time             time.Time
	}
	pvcsOf := map[growthKey][]string{}
	var keys []growthKey
	for _, name := range sortedKeys(recorded) {
		growth := recorded[name]
		out.lastGrowth[name] = growth.Time.Time
		if growth.CatchUp {
			continue
		}
		key := growthKey{growth.Kind, growth.Role, growth.Tablespace, growth.Instance, growth.To.String(), growth.Time.Time}
		if _, seen := pvcsOf[key]; !seen {
			keys = append(keys, key)
		}
		pvcsOf[key] = append(pvcsOf[key], name)
	}
	windowStart := now.Add(-24 * time.Hour)
	for _, key := range keys {
		names := pvcsOf[key]
		first := recorded[names[0]]
		if first.Time.After(windowStart) && !slices.ContainsFunc(out.budget, func(action v1alpha1.BudgetAction) bool {
			return action.Role == first.Role && action.Tablespace == first.Tablespace && action.Instance == first.Instance &&
				action.To.Cmp(first.To) == 0 && action.Time.Equal(&first.Time)
		}) {
			out.budget = append(out.budget, v1alpha1.BudgetAction{
				Time: first.Time, Kind: first.Kind, Role: first.Role, Tablespace: first.Tablespace, Instance: first.Instance, To: first.To,
			})
		}
		out.history = withGrowth(out.history, names, recorded, reached)
	}
	return out
}

// withGrowth adds the growth the PVCs names record to history, or the PVCs
// missing from its entry while it is in progress.
func withGrowth(history []v1alpha1.GrowthRecord, names []string, recorded map[string]pvcGrowth, reached map[string]bool) []v1alpha1.GrowthRecord {
	first := recorded[names[0]]
	for index := range history {
		record := &history[index]
		if record.Role != first.Role || record.Tablespace != first.Tablespace || record.To.Cmp(first.To) != 0 || !record.Time.Equal(&first.Time) {
			continue
		}
		if record.Outcome == v1alpha1.OutcomeInProgress {
			for _, name := range names {
				if !slices.Contains(record.PVCs, name) {
					record.PVCs = append(record.PVCs, name)
				}
			}
		}
		return history
	}
	if len(history) >= v1alpha1.HistoryLength && first.Time.Before(&history[0].Time) {
		return history
	}
	record := v1alpha1.GrowthRecord{
		Time: first.Time, Role: first.Role, Tablespace: first.Tablespace, PVCs: slices.Clone(names),
		From: first.From, To: first.To, Kind: first.Kind, Trigger: first.Trigger, Outcome: v1alpha1.OutcomeSucceeded,
	}
	for _, name := range names {
		if growth := recorded[name]; growth.From.Cmp(record.From) < 0 {
			record.From = growth.From
		}
		if !reached[name] {
			record.Outcome = v1alpha1.OutcomeInProgress
		}
	}
	// Newest last: after every entry not newer than it.
	at := len(history)
	for at > 0 && history[at-1].Time.After(record.Time.Time) {
		at--
	}
	return slices.Insert(history, at, record)
}

// rebuildFromPVCs feeds the snapshot's plan the growths its PVCs record and
// the status lacks. A record that cannot be read is logged and ignored: it
// only ever adds to what status says.
func rebuildFromPVCs(ctx context.Context, view *clusterView) {
	recorded := map[string]pvcGrowth{}
	reached := map[string]bool{}
	for _, name := range sortedKeys(view.pvcs) {
		growth, ok, err := decodeGrowth(view.pvcs[name])
		if err != nil {
			logf.FromContext(ctx).Error(err, "growth record ignored")
		}
		if !ok {
			continue
		}
		recorded[name] = growth
		reached[name] = view.resize[name].reachedAtLeast(growth.To)
	}
	if len(recorded) == 0 {
		return
	}
	rebuilt := rebuildGrowths(view.plan.History, view.plan.Budget, recorded, reached, view.now)
	view.plan.History, view.plan.Budget = rebuilt.history, rebuilt.budget
	for index := range view.plan.PVCs {
		pvc := &view.plan.PVCs[index]
		if at := rebuilt.lastGrowth[pvc.Name]; at.After(pvc.LastGrowth) {
			pvc.LastGrowth = at
		}
	}
}
