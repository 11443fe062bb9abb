package ledger

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The reports under testdata/ were written by Ginkgo v2.34.0 itself
// (-ginkgo.json-report) from a throwaway suite run with
// -ginkgo.label-filter=gate1: run1 and run2 are the same five specs with
// different outcomes, beforesuite-failed is a suite whose BeforeSuite failed.
func loadRun(t *testing.T, name string) Run {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	reports, err := ParseReport(data)
	if err != nil {
		t.Fatal(err)
	}
	return FromReports(reports)
}

func outcomes(run Run) map[string]Outcome {
	m := map[string]Outcome{}
	for _, spec := range run.Specs {
		m[spec.Name] = spec.Outcome
	}
	return m
}

func TestFromReports(t *testing.T) {
	tests := []struct {
		name         string
		report       string
		wantTotals   Totals
		wantOutcomes map[string]Outcome
		wantFailure  map[string]string // spec → a part of its failure line
	}{
		{
			name:       "specs filtered out by label count as skipped; a passed BeforeSuite is no spec",
			report:     "run1.json",
			wantTotals: Totals{Passed: 1, Failed: 1, Pending: 1, Skipped: 2},
			wantOutcomes: map[string]Outcome{
				"growth grows the data volume":  Passed,
				"growth respects the limit":     Failed,
				"growth a pending spec":         Pending,
				"growth a skipped spec":         Skipped,
				"windows queues planned growth": Skipped,
			},
			wantFailure: map[string]string{"growth respects the limit": "Expected <int>: 1 to equal <int>: 2 (/"},
		},
		{
			name:       "Fail() in a spec is a failure with its message",
			report:     "run2.json",
			wantTotals: Totals{Passed: 1, Failed: 2, Pending: 1, Skipped: 1},
			wantOutcomes: map[string]Outcome{
				"growth grows the data volume":  Failed,
				"growth respects the limit":     Passed,
				"growth a pending spec":         Pending,
				"growth a skipped spec":         Failed,
				"windows queues planned growth": Skipped,
			},
			wantFailure: map[string]string{"growth a skipped spec": "now it fails (", "growth grows the data volume": `Expected <string>: 10Gi to equal <string>: 12Gi (`},
		},
		{
			name:         "a failed BeforeSuite is recorded as a failure, since no It is reported",
			report:       "beforesuite-failed.json",
			wantTotals:   Totals{Failed: 1},
			wantOutcomes: map[string]Outcome{"[BeforeSuite]": Failed},
			wantFailure:  map[string]string{"[BeforeSuite]": "the sandbox is not reachable (/"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := loadRun(t, tt.report)
			if run.Totals != tt.wantTotals {
				t.Errorf("totals = %+v, want %+v", run.Totals, tt.wantTotals)
			}
			if got := outcomes(run); !reflect.DeepEqual(got, tt.wantOutcomes) {
				t.Errorf("outcomes = %v, want %v", got, tt.wantOutcomes)
			}
			if run.Duration <= 0 {
				t.Errorf("duration = %v, want the report's run time", run.Duration)
			}
			for _, spec := range run.Specs {
				want, failed := tt.wantFailure[spec.Name]
				if failed && !strings.Contains(spec.Failure, want) {
					t.Errorf("%s: failure %q does not contain %q", spec.Name, spec.Failure, want)
				}
				if spec.Outcome == Failed && spec.GinkgoState != "failed" {
					t.Errorf("%s: ginkgo state %q, want failed", spec.Name, spec.GinkgoState)
				}
				if spec.Outcome != Failed && spec.Failure != "" {
					t.Errorf("%s: %s with a failure %q", spec.Name, spec.Outcome, spec.Failure)
				}
			}
		})
	}
}

func TestParseReportRejects(t *testing.T) {
	for name, data := range map[string]string{
		"not JSON":           "<testsuites/>",
		"an empty array":     "[]",
		"a truncated report": `[{"SuitePath": "/x", "SpecReports": [`,
	} {
		if _, err := ParseReport([]byte(data)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
