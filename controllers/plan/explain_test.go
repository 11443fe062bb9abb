package plan

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// explanationDisagrees returns how Explain's story differs from Plan's for
// the snapshot, or "" when it tells the same one: the same result, and for
// every PVC the gate Plan reports holds it in the explanation too, with
// the row's words, after gates that all let it through.
func explanationDisagrees(snapshot Snapshot) string {
	planned := Plan(snapshot)
	explanation := Explain(snapshot)
	if !reflect.DeepEqual(mustJSON(planned), mustJSON(explanation.Result)) {
		return fmt.Sprintf("Explain's result differs from Plan's:\n%s\n%s", mustJSON(planned), mustJSON(explanation.Result))
	}
	if len(explanation.Volumes) != len(planned.Volumes) {
		return fmt.Sprintf("%d explained volumes, %d rows", len(explanation.Volumes), len(planned.Volumes))
	}
	dryRun := snapshot.Policy.Mode == v1alpha1.ModeDryRun
	for index, explained := range explanation.Volumes {
		row := planned.Volumes[index]
		if mustJSON(explained.Row) != mustJSON(row) {
			return fmt.Sprintf("row %d: explained %s, planned %s", index, mustJSON(explained.Row), mustJSON(row))
		}
		gates := make([]Gate, 0, len(explained.Gates))
		for _, verdict := range explained.Gates {
			gates = append(gates, verdict.Gate)
		}
		if !slices.Equal(gates, GateOrder()) {
			return fmt.Sprintf("%s: gates %v, want %v", row.PVC, gates, GateOrder())
		}
		decision := decisionFor(planned, row.PVC)
		if dryRun {
			decision = nil
			for _, would := range planned.WouldGrow {
				if would.PVC == row.PVC {
					decision = &would
				}
			}
		}
		if mustJSON(decision) != mustJSON(explained.Decision) {
			return fmt.Sprintf("%s: explained decision %s, planned %s", row.PVC, mustJSON(explained.Decision), mustJSON(decision))
		}
		reported := slices.IndexFunc(explained.Gates, func(verdict GateVerdict) bool { return verdict.Reported })
		switch {
		case row.Gate == "" && reported >= 0:
			return fmt.Sprintf("%s: Plan reports no gate, the explanation reports %s", row.PVC, explained.Gates[reported].Gate)
		case row.Gate != "" && (reported < 0 || explained.Gates[reported].Gate != row.Gate):
			return fmt.Sprintf("%s: Plan reports gate %s, the explanation does not", row.PVC, row.Gate)
		case row.Gate != "" && explained.Gates[reported].Verdict != VerdictHold:
			return fmt.Sprintf("%s: the reported gate %s does not hold in the explanation: %+v", row.PVC, row.Gate, explained.Gates[reported])
		case row.Gate != "" && row.Gate != GateDryRun && !strings.Contains(row.Reason, explained.Gates[reported].Reason):
			return fmt.Sprintf("%s: gate %s says %q, the row %q", row.PVC, row.Gate, explained.Gates[reported].Reason, row.Reason)
		}
		for position, verdict := range explained.Gates {
			switch {
			case decision != nil && !dryRun && verdict.Verdict == VerdictHold:
				return fmt.Sprintf("%s grows, yet gate %s holds it: %s", row.PVC, verdict.Gate, verdict.Reason)
			case explained.Wants != "" && reported >= 0 && position < reported && verdict.Verdict == VerdictHold:
				return fmt.Sprintf("%s: gate %s holds before the reported gate %s: %s", row.PVC, verdict.Gate, row.Gate, verdict.Reason)
			}
		}
	}
	return ""
}

func mustJSON(value any) string {
	encoded, err := json.Marshal(value)
	if err != nil {
		panic(err)
	}
	return string(encoded)
}

func TestPropertyExplainTellsPlansStory(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		if disagreement := explanationDisagrees(drawSnapshot(t)); disagreement != "" {
			t.Fatal(disagreement)
		}
	})
}

func TestExplainGates(t *testing.T) {
	// The data volume of an instance with a WAL volume holds no WAL.
	snapshot := oneInstance(t, 85, 40).policy(nightlyWindow).build()
	explanation := Explain(snapshot)
	var data VolumeExplanation
	for _, explained := range explanation.Volumes {
		if explained.Row.PVC == "orders-1" {
			data = explained
		}
	}
	if data.Wants != v1alpha1.GrowthPlanned || data.Decision != nil {
		t.Fatalf("orders-1 wants %q, decision %+v; want a planned growth held by the window", data.Wants, data.Decision)
	}
	verdicts := map[Gate]Verdict{}
	for _, verdict := range data.Gates {
		verdicts[verdict.Gate] = verdict.Verdict
		if verdict.Reason == "" {
			t.Errorf("gate %s has no reason", verdict.Gate)
		}
	}
	want := map[Gate]Verdict{
		GateNoRule: VerdictPass, GateDryRun: VerdictPass, GateStorageClass: VerdictPass, GateObservation: VerdictPass,
		GateInFlight: VerdictPass, GateLimit: VerdictPass, GateCooldown: VerdictPass, GateWALSafety: VerdictNotApplicable,
		GateWindow: VerdictHold, GateBudget: VerdictPass,
	}
	if !reflect.DeepEqual(verdicts, want) {
		t.Errorf("verdicts = %v, want %v", verdicts, want)
	}
	if disagreement := explanationDisagrees(snapshot); disagreement != "" {
		t.Error(disagreement)
	}
}
