package ledger

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Two runs appended in turn to a new ledger: the second entry's deltas come
// from the first entry's results block, read back from the Markdown.
func TestLedgerOfTwoRuns(t *testing.T) {
	at := time.Date(2026, 7, 14, 9, 30, 0, 0, time.UTC)
	ledger := Header

	first := NewEntry(ledger, loadRun(t, "run1.json"), at, "54d5e8c1a2b3", "sandbox", "e2e/run.sh --label-filter 'gate1 || gate2'")
	if first.Delta != nil {
		t.Fatalf("first entry has deltas %+v", first.Delta)
	}
	ledger += Render(first)
	for _, want := range []string{
		"\n## 2026-07-14 09:30 UTC · sandbox · 54d5e8c1a2b3\n",
		"- Command: `e2e/run.sh --label-filter 'gate1 || gate2'`\n",
		"- Totals: 1 passed, 1 failed, 1 pending, 2 skipped (",
		"- Deltas: none, this is the first entry\n",
		"- Failures: 1\n  - growth respects the limit [failed]: Expected <int>: 1 to equal <int>: 2 (",
		"- passed: growth grows the data volume\n",
		"- skipped: windows queues planned growth\n",
	} {
		if !strings.Contains(ledger, want) {
			t.Errorf("first entry lacks %q:\n%s", want, ledger)
		}
	}

	second := NewEntry(ledger, loadRun(t, "run2.json"), at.Add(time.Hour), "6f7e8d9c0b1a-dirty-0a1b2c3d", "cluster", "e2e/run.sh --target cluster")
	want := &Delta{
		Regressions: []string{"growth grows the data volume"},
		Fixed:       []string{"growth respects the limit"},
		NewFailures: []string{"growth a skipped spec"},
	}
	if !reflect.DeepEqual(second.Delta, want) {
		t.Fatalf("second entry's deltas = %+v, want %+v", second.Delta, want)
	}
	rendered := Render(second)
	for _, want := range []string{
		"- Regressions (passed before, failed now): 1\n  - growth grows the data volume\n",
		"- Fixed (failed before, passed now): 1\n  - growth respects the limit\n",
		"- Still failing: none\n",
		"- New failures (not run before): 1\n  - growth a skipped spec\n",
	} {
		if !strings.Contains(rendered, want) {
			t.Errorf("second entry lacks %q:\n%s", want, rendered)
		}
	}

	// A third run compares with the second, not the first.
	ledger += rendered
	third := NewEntry(ledger, loadRun(t, "run2.json"), at.Add(2*time.Hour), "6f7e8d9c0b1a", "cluster", "e2e/run.sh --target cluster")
	want = &Delta{StillFailing: []string{"growth grows the data volume", "growth a skipped spec"}}
	if !reflect.DeepEqual(third.Delta, want) {
		t.Errorf("third entry's deltas = %+v, want %+v", third.Delta, want)
	}
}

func TestPreviousOutcomes(t *testing.T) {
	if _, ok := PreviousOutcomes(Header); ok {
		t.Error("a ledger with no entry has previous outcomes")
	}
	ledger := Header + Render(Entry{Run: Run{Specs: []SpecResult{
		{Name: "a spec: with a colon", Outcome: Passed},
		{Name: "[BeforeSuite]", Outcome: Failed, GinkgoState: "timedout", Failure: "gave up"},
	}}})
	got, ok := PreviousOutcomes(strings.ReplaceAll(ledger, "\n", "\r\n"))
	want := map[string]Outcome{"a spec: with a colon": Passed, "[BeforeSuite]": Failed}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("PreviousOutcomes = %v, %v; want %v (the Failures list must not be read as results)", got, ok, want)
	}
}

func TestCodeSpan(t *testing.T) {
	for command, want := range map[string]string{
		"e2e/run.sh --focus 'grows'":  "`e2e/run.sh --focus 'grows'`",
		"e2e/run.sh --focus 'a`b'":    "``e2e/run.sh --focus 'a`b'``",
		"`weird`":                     "`` `weird` ``",
		"e2e/run.sh --focus 'a``b`c'": "```e2e/run.sh --focus 'a``b`c'```",
	} {
		if got := codeSpan(command); got != want {
			t.Errorf("codeSpan(%q) = %q, want %q", command, got, want)
		}
	}
}

// The committed ledger starts as Header says, so the program and the file
// agree on what an empty ledger is.
func TestCommittedLedgerHasTheHeader(t *testing.T) {
	data, err := os.ReadFile("../../E2E_TEST_SUMMARY.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), Header) {
		t.Errorf("E2E_TEST_SUMMARY.md does not start with ledger.Header:\n%s", data)
	}
}
