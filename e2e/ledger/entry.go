package ledger

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Header opens a new ledger file.
const Header = `# E2E test summary

The ledger of ` + "`e2e/run.sh`" + ` (see e2e/README.md): one entry per run, newest
last, appended by ` + "`go run ./e2e/ledger/cmd`" + ` from the run's Ginkgo JSON report.
Deltas compare an entry with the one before it. In CI the entry is printed in
the job's log instead of being written here.
`

// Entry is one run as the ledger records it.
type Entry struct {
	Time    time.Time
	Commit  string // the tree's image tag: git short SHA, -dirty-<hash> with local changes
	Target  string // sandbox or cluster
	Command string // the exact command line of e2e/run.sh
	Run     Run
	// Delta is nil for the first entry of a ledger: nothing to compare with.
	Delta *Delta
}

// The results block is the part of an entry the next run reads back.
const (
	resultsBegin = "<!-- e2e-ledger results -->"
	resultsEnd   = "<!-- /e2e-ledger results -->"
)

// Render writes an entry as Markdown, starting with a blank line so that it
// can be appended to the ledger as it is.
func Render(e Entry) string {
	var b strings.Builder
	t := e.Run.Totals
	fmt.Fprintf(&b, "\n## %s · %s · %s\n\n", e.Time.UTC().Format("2006-01-02 15:04 UTC"), e.Target, e.Commit)
	fmt.Fprintf(&b, "- Command: %s\n", codeSpan(e.Command))
	fmt.Fprintf(&b, "- Totals: %d passed, %d failed, %d pending, %d skipped (%s)\n",
		t.Passed, t.Failed, t.Pending, t.Skipped, e.Run.Duration.Round(time.Second))
	if e.Delta == nil {
		b.WriteString("- Deltas: none, this is the first entry\n")
	} else {
		writeList(&b, "Regressions (passed before, failed now)", e.Delta.Regressions)
		writeList(&b, "Fixed (failed before, passed now)", e.Delta.Fixed)
		writeList(&b, "Still failing", e.Delta.StillFailing)
		writeList(&b, "New failures (not run before)", e.Delta.NewFailures)
	}
	var failures []string
	for _, spec := range e.Run.Specs {
		if spec.Outcome == Failed {
			failures = append(failures, fmt.Sprintf("%s [%s]: %s", spec.Name, spec.GinkgoState, spec.Failure))
		}
	}
	if len(failures) > 0 {
		writeList(&b, "Failures", failures)
	}
	fmt.Fprintf(&b, "\n<details><summary>Every spec</summary>\n\n%s\n", resultsBegin)
	for _, spec := range e.Run.Specs {
		fmt.Fprintf(&b, "- %s: %s\n", spec.Outcome, spec.Name)
	}
	fmt.Fprintf(&b, "%s\n\n</details>\n", resultsEnd)
	return b.String()
}

func writeList(b *strings.Builder, title string, items []string) {
	if len(items) == 0 {
		fmt.Fprintf(b, "- %s: none\n", title)
		return
	}
	fmt.Fprintf(b, "- %s: %d\n", title, len(items))
	for _, item := range items {
		fmt.Fprintf(b, "  - %s\n", item)
	}
}

// codeSpan quotes a command for Markdown, even one holding backticks.
func codeSpan(s string) string {
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

var resultLine = regexp.MustCompile(`^- (passed|failed|pending|skipped): (.+)$`)

// PreviousOutcomes reads the results block of the ledger's last entry; ok
// is false when the ledger has no entry yet.
func PreviousOutcomes(ledger string) (outcomes map[string]Outcome, ok bool) {
	begin := strings.LastIndex(ledger, resultsBegin)
	if begin < 0 {
		return nil, false
	}
	block := ledger[begin+len(resultsBegin):]
	if end := strings.Index(block, resultsEnd); end >= 0 {
		block = block[:end]
	}
	outcomes = map[string]Outcome{}
	for _, line := range strings.Split(block, "\n") {
		if m := resultLine.FindStringSubmatch(strings.TrimRight(line, "\r")); m != nil {
			outcomes[m[2]] = Outcome(m[1])
		}
	}
	return outcomes, true
}

// NewEntry builds the entry of a run against the ledger as it stands.
func NewEntry(ledger string, run Run, at time.Time, commit, target, command string) Entry {
	e := Entry{Time: at, Commit: commit, Target: target, Command: command, Run: run}
	if previous, ok := PreviousOutcomes(ledger); ok {
		delta := Compare(previous, run.Specs)
		e.Delta = &delta
	}
	return e
}
