package ledger

import (
	"reflect"
	"testing"
)

func TestCompare(t *testing.T) {
	spec := func(name string, outcome Outcome) SpecResult { return SpecResult{Name: name, Outcome: outcome} }
	tests := []struct {
		name     string
		previous map[string]Outcome
		current  []SpecResult
		want     Delta
	}{
		{
			name:     "passed before and failed now is a regression",
			previous: map[string]Outcome{"grows": Passed},
			current:  []SpecResult{spec("grows", Failed)},
			want:     Delta{Regressions: []string{"grows"}},
		},
		{
			name:     "failed before and passed now is fixed",
			previous: map[string]Outcome{"grows": Failed},
			current:  []SpecResult{spec("grows", Passed)},
			want:     Delta{Fixed: []string{"grows"}},
		},
		{
			name:     "failed before and now is still failing",
			previous: map[string]Outcome{"grows": Failed},
			current:  []SpecResult{spec("grows", Failed)},
			want:     Delta{StillFailing: []string{"grows"}},
		},
		{
			name:     "a failure of a spec skipped, pending or unknown before is new, not a regression",
			previous: map[string]Outcome{"skipped before": Skipped, "pending before": Pending},
			current:  []SpecResult{spec("skipped before", Failed), spec("pending before", Failed), spec("added since", Failed)},
			want:     Delta{NewFailures: []string{"skipped before", "pending before", "added since"}},
		},
		{
			name:     "a spec skipped now is no change, whatever it was before",
			previous: map[string]Outcome{"was failing": Failed, "was passing": Passed},
			current:  []SpecResult{spec("was failing", Skipped), spec("was passing", Skipped)},
			want:     Delta{},
		},
		{
			name:     "passing twice is no change",
			previous: map[string]Outcome{"grows": Passed},
			current:  []SpecResult{spec("grows", Passed), spec("added since", Passed)},
			want:     Delta{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compare(tt.previous, tt.current); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Compare = %+v, want %+v", got, tt.want)
			}
		})
	}
}
