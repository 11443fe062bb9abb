// Package ledger turns a Ginkgo JSON report of the end-to-end suite into an
// entry of E2E_TEST_SUMMARY.md, the committed ledger of e2e/run.sh: totals,
// and what changed since the previous entry (regressions, fixed, still
// failing). Everything here is pure: reading and writing files is left to
// ./cmd, so the rules are table-tested on real reports under testdata/.
package ledger

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

// Outcome is what the ledger records of one spec: Ginkgo's many failure
// states (failed, panicked, timedout, aborted, interrupted) are all "failed".
type Outcome string

const (
	Passed  Outcome = "passed"
	Failed  Outcome = "failed"
	Pending Outcome = "pending"
	Skipped Outcome = "skipped"
)

// SpecResult is one spec of a run.
type SpecResult struct {
	// Name is the spec's full text (containers and leaf, as Ginkgo prints
	// it); a failed suite-level node (BeforeSuite …) is named [BeforeSuite].
	Name    string
	Outcome Outcome
	// GinkgoState is Ginkgo's own word (e.g. "timedout"), kept for failures.
	GinkgoState string
	// Failure is the failure message on one line (cut at maxFailureLength)
	// and where it failed.
	Failure string
}

// Totals counts a run's specs by outcome.
type Totals struct {
	Passed, Failed, Pending, Skipped int
}

// Run is what one report holds for the ledger.
type Run struct {
	Specs    []SpecResult
	Totals   Totals
	Duration time.Duration
}

// ParseReport decodes Ginkgo's JSON report (an array of suite reports, as
// written by -ginkgo.json-report).
func ParseReport(data []byte) ([]types.Report, error) {
	var reports []types.Report
	if err := json.Unmarshal(data, &reports); err != nil {
		return nil, fmt.Errorf("ginkgo JSON report: %w", err)
	}
	if len(reports) == 0 {
		return nil, fmt.Errorf("ginkgo JSON report holds no suite")
	}
	return reports, nil
}

// FromReports extracts the specs and their outcomes. Suite-level nodes are
// counted only when they fail: a failed BeforeSuite leaves no It in the
// report at all, and the run must still read as failed.
func FromReports(reports []types.Report) Run {
	var run Run
	for _, report := range reports {
		run.Duration += report.RunTime
		for _, spec := range report.SpecReports {
			outcome := outcomeOf(spec.State)
			isSpec := spec.LeafNodeType.Is(types.NodeTypeIt)
			if !isSpec && outcome != Failed {
				continue
			}
			result := SpecResult{Name: specName(spec), Outcome: outcome}
			if outcome == Failed {
				result.GinkgoState = spec.State.String()
				result.Failure = failureLine(spec.Failure)
			}
			run.Specs = append(run.Specs, result)
			switch outcome {
			case Passed:
				run.Totals.Passed++
			case Failed:
				run.Totals.Failed++
			case Pending:
				run.Totals.Pending++
			case Skipped:
				run.Totals.Skipped++
			}
		}
	}
	return run
}

func outcomeOf(state types.SpecState) Outcome {
	switch {
	case state == types.SpecStatePassed:
		return Passed
	case state == types.SpecStatePending:
		return Pending
	case state.Is(types.SpecStateFailureStates):
		return Failed
	default:
		// Skipped, and specs filtered out by --focus/--label-filter.
		return Skipped
	}
}

// specName is one line: the ledger's results block is line-oriented.
func specName(spec types.SpecReport) string {
	name := spec.FullText()
	if !spec.LeafNodeType.Is(types.NodeTypeIt) {
		name = strings.TrimSpace("[" + spec.LeafNodeType.String() + "] " + name)
	}
	return oneLine(name)
}

// maxFailureLength keeps an entry readable: the ledger says what failed, the
// run's log and report say why in full.
const maxFailureLength = 240

func failureLine(failure types.Failure) string {
	// Gomega's messages span lines ("Expected\n    <int>: 1\nto equal ...").
	message := oneLine(failure.Message)
	if runes := []rune(message); len(runes) > maxFailureLength {
		message = string(runes[:maxFailureLength]) + "…"
	}
	if failure.Location.FileName == "" {
		return message
	}
	return fmt.Sprintf("%s (%s)", message, failure.Location.String())
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
