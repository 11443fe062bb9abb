package main

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// The demo's live view. Everything here is pure: the demo reads the PVCs
// and the policy, turns them into a liveFrame, and writes what render
// returns. No client, no clock, no terminal calls.

const (
	// usedBarCells is the width of the USED bar: one cell per 10 %.
	usedBarCells = 10
	// decisionRunes is where a reason is cut in the terminal's table; the
	// whole reason is one `kubectl pgstorage status` away.
	decisionRunes = 80

	// ANSI: cursor up n lines, to column 0, erase to the end of the screen.
	cursorUpFormat = "\x1b[%dA"
	carriageReturn = "\r"
	eraseDown      = "\x1b[J"
)

// liveRow is one PVC as the live view shows it.
type liveRow struct {
	PVC      string
	Request  string
	Capacity string
	// Observed is false while the policy status has no figures for the
	// PVC (no row yet, or no fresh measurement): USED reads "-".
	Observed    bool
	UsedPercent float64
	State       string
	// Decision is the policy row's reason in words.
	Decision string
	// TimeToFull at the current fill rate; 0 when not filling.
	TimeToFull time.Duration
}

// liveFrame is what the demo saw at one poll.
type liveFrame struct {
	// Elapsed is the time since the fill started.
	Elapsed     time.Duration
	PolicyState string
	Rows        []liveRow
	// Growths are the growth lines, oldest first (growthLines).
	Growths []string
	// Width is the terminal's width in columns; 0 when unknown.
	Width int
}

// liveView turns frames into text. On a terminal it redraws one frame in
// place; on a pipe (a log, CI) it prints only what changed since the last
// frame, because cursor movements there are noise and a table per poll
// buried the two growths under forty tables.
type liveView struct {
	terminal bool
	title    string
	// notes are extra lines under the title: what else the sandbox offers
	// to look at while the demo runs (where a Prometheus scraping it
	// listens, say).
	notes []string

	// Terminal: how many lines the last frame took, to move back over.
	drawnLines int

	// Pipe: what was printed already.
	started        bool
	printedState   string
	printedRows    map[string]string
	printedGrowths map[string]bool
}

func newLiveView(terminal bool, title string, notes []string) *liveView {
	return &liveView{
		terminal: terminal, title: title, notes: notes,
		printedRows: map[string]string{}, printedGrowths: map[string]bool{},
	}
}

// render returns the text to write for frame.
func (v *liveView) render(frame liveFrame) string {
	if v.terminal {
		return v.redraw(frame)
	}
	return v.changes(frame)
}

// redraw is the whole frame, preceded by the cursor movement that puts it
// over the previous one.
func (v *liveView) redraw(frame liveFrame) string {
	var lines []string
	lines = append(lines, fmt.Sprintf("%s   %s elapsed   policy state: %s",
		v.title, formatElapsed(frame.Elapsed), orDash(frame.PolicyState)))
	for _, note := range v.notes {
		lines = append(lines, "  "+note)
	}
	lines = append(lines, "")
	lines = append(lines, tableLines(frame.Rows)...)
	if len(frame.Growths) > 0 {
		lines = append(lines, "")
		for _, growth := range frame.Growths {
			lines = append(lines, "  "+growth)
		}
	}
	var text strings.Builder
	if v.drawnLines > 0 {
		fmt.Fprintf(&text, cursorUpFormat, v.drawnLines)
		text.WriteString(carriageReturn + eraseDown)
	}
	for _, line := range lines {
		// A line the terminal wraps takes two rows and the next redraw
		// would move up one too few; one column spare, because some
		// terminals wrap on the last one.
		if frame.Width > 1 {
			line = truncate(line, frame.Width-1)
		}
		text.WriteString(line + "\n")
	}
	v.drawnLines = len(lines)
	return text.String()
}

// tableLines is the table of the terminal view, aligned.
func tableLines(rows []liveRow) []string {
	var buffer bytes.Buffer
	w := tabwriter.NewWriter(&buffer, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "PVC\tREQUEST\tCAPACITY\tUSED\tSTATE\tTIME TO FULL\tDECISION")
	for _, row := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.PVC, orDash(row.Request), orDash(row.Capacity),
			usedCell(row), orDash(row.State), timeToFullCell(row.TimeToFull), orDash(truncate(row.Decision, decisionRunes)))
	}
	_ = w.Flush() // a bytes.Buffer does not fail
	return strings.Split(strings.TrimSuffix(buffer.String(), "\n"), "\n")
}

// changes are the lines for a pipe: the title once, then the policy state
// when it changes, the rows that changed and the new growth lines, each
// stamped with the elapsed time.
func (v *liveView) changes(frame liveFrame) string {
	var text strings.Builder
	if !v.started {
		text.WriteString(v.title + "\n")
		for _, note := range v.notes {
			text.WriteString("  " + note + "\n")
		}
		v.started = true
	}
	stamp := formatElapsed(frame.Elapsed)
	if state := orDash(frame.PolicyState); state != v.printedState {
		fmt.Fprintf(&text, "%s  policy state: %s\n", stamp, state)
		v.printedState = state
	}
	for _, row := range frame.Rows {
		key := rowChangeKey(row)
		if v.printedRows[row.PVC] == key {
			continue
		}
		v.printedRows[row.PVC] = key
		fmt.Fprintf(&text, "%s  %s: request %s, capacity %s, used %s, %s, time to full %s: %s\n", stamp, row.PVC,
			orDash(row.Request), orDash(row.Capacity), usedCell(row), orDash(row.State),
			timeToFullCell(row.TimeToFull), orDash(oneLine(row.Decision)))
	}
	for _, growth := range frame.Growths {
		if v.printedGrowths[growth] {
			continue
		}
		v.printedGrowths[growth] = true
		text.WriteString(growth + "\n")
	}
	return text.String()
}

// rowChangeKey is what makes a row worth a new line on a pipe: its sizes,
// state and decision, and its used bar. The used percent and the time to
// full move at every poll while the database fills; keyed on them, every
// row would print every time.
func rowChangeKey(row liveRow) string {
	return strings.Join([]string{row.Request, row.Capacity, row.State, row.Decision, usedBar(row.Observed, row.UsedPercent)}, "\x00")
}

// usedCell is "[#####-----] 52%", or "-" without figures.
func usedCell(row liveRow) string {
	if !row.Observed {
		return "-"
	}
	return fmt.Sprintf("%s %d%%", usedBar(true, row.UsedPercent), wholePercent(row.UsedPercent))
}

// usedBar is one cell per 10 % used, rounded down like every percentage
// the add-on shows, so the bar never looks past a threshold the volume
// has not reached; over 100 % (reserved blocks) it stays full.
func usedBar(observed bool, percent float64) string {
	if !observed {
		return ""
	}
	filled := min(max(wholePercent(percent)*usedBarCells/100, 0), usedBarCells)
	return "[" + strings.Repeat("#", filled) + strings.Repeat("-", usedBarCells-filled) + "]"
}

func wholePercent(percent float64) int {
	if math.IsNaN(percent) || math.IsInf(percent, 0) {
		return 0
	}
	return int(math.Floor(percent))
}

func timeToFullCell(timeToFull time.Duration) string {
	if timeToFull <= 0 {
		return "-"
	}
	return plan.FormatDuration(timeToFull.Round(time.Second))
}

// formatElapsed is "+1m5s"; a growth from before the demo started (the
// cluster was left running by an earlier one) reads "-3m".
func formatElapsed(elapsed time.Duration) string {
	elapsed = elapsed.Round(time.Second)
	if elapsed < 0 {
		return "-" + plan.FormatDuration(-elapsed)
	}
	return "+" + plan.FormatDuration(elapsed)
}

// liveRows joins the PVCs with the policy's status rows, sorted by PVC name.
func liveRows(pvcs []corev1.PersistentVolumeClaim, volumes []v1alpha1.VolumeStatus) []liveRow {
	statusOf := map[string]v1alpha1.VolumeStatus{}
	for _, volume := range volumes {
		statusOf[volume.PVC] = volume
	}
	rows := make([]liveRow, 0, len(pvcs))
	for _, pvc := range pvcs {
		row := liveRow{PVC: pvc.Name}
		if request, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
			row.Request = request.String()
		}
		if capacity, ok := pvc.Status.Capacity[corev1.ResourceStorage]; ok {
			row.Capacity = capacity.String()
		}
		if volume, ok := statusOf[pvc.Name]; ok {
			// The status leaves the figures out when none are fresh.
			row.Observed = volume.UsedBytes > 0 || volume.FreeBytes > 0
			row.UsedPercent = volume.UsedPercent
			row.State = string(volume.State)
			row.Decision = volume.Reason
			row.TimeToFull = timeToFull(volume)
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].PVC < rows[j].PVC })
	return rows
}

// timeToFull is the status's own figure, or free space over the fill rate
// when only the rate is there.
func timeToFull(volume v1alpha1.VolumeStatus) time.Duration {
	if volume.TimeToFull != nil {
		return volume.TimeToFull.Duration
	}
	if volume.FillRateBytesPerHour <= 0 || volume.FreeBytes <= 0 {
		return 0
	}
	return time.Duration(float64(volume.FreeBytes) / float64(volume.FillRateBytesPerHour) * float64(time.Hour))
}

// growthLines are the policy's growths in words, oldest first, stamped
// with their time since start: "+1m5s grew data 1Gi → 2Gi (planned,
// usedPercent 70.3 >= 70)". A growth still under way has its own line, so
// a pipe shows it start and end.
func growthLines(history []v1alpha1.GrowthRecord, start time.Time) []string {
	lines := make([]string, 0, len(history))
	for _, record := range history {
		what := record.Tablespace
		if what == "" {
			what = string(record.Role)
		}
		stamp := formatElapsed(record.Time.Sub(start))
		sizes := fmt.Sprintf("%s %s → %s", what, record.From.String(), record.To.String())
		switch record.Outcome {
		case v1alpha1.OutcomeSucceeded:
			lines = append(lines, fmt.Sprintf("%s grew %s (%s, %s)", stamp, sizes, record.Kind, record.Trigger))
		case v1alpha1.OutcomeFailed:
			lines = append(lines, fmt.Sprintf("%s growth of %s failed: %s", stamp, sizes, oneLine(record.Message)))
		default:
			lines = append(lines, fmt.Sprintf("%s growing %s (%s, %s)", stamp, sizes, record.Kind, record.Trigger))
		}
	}
	return lines
}

// dataGrowths counts the data volumes' finished growths since the demo
// started: what it waits for. A demo run again on the cluster an earlier
// run left waits for two growths of its own.
func dataGrowths(history []v1alpha1.GrowthRecord, since time.Time) int {
	grown := 0
	for _, record := range history {
		if record.Role == v1alpha1.RoleData && record.Outcome == v1alpha1.OutcomeSucceeded && !record.Time.Time.Before(since) {
			grown++
		}
	}
	return grown
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// truncate cuts s to at most n runes, the last one an ellipsis.
func truncate(s string, n int) string {
	s = oneLine(s)
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)
	return string(runes[:n-1]) + "…"
}
