package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

func filling(pvc string, percent float64) liveRow {
	return liveRow{
		PVC: pvc, Request: "1Gi", Capacity: "1Gi", Observed: true, UsedPercent: percent,
		State: "Idle", Decision: "usedPercent below trigger 70", TimeToFull: 90 * time.Second,
	}
}

func TestUsedCell(t *testing.T) {
	cases := []struct {
		name string
		row  liveRow
		want string
	}{
		{name: "empty volume: empty bar", row: liveRow{Observed: true, UsedPercent: 0}, want: "[----------] 0%"},
		{name: "52.9 % rounds down, in bar and number", row: liveRow{Observed: true, UsedPercent: 52.9}, want: "[#####-----] 52%"},
		{name: "69.99 % does not show the 70 % trigger reached", row: liveRow{Observed: true, UsedPercent: 69.99}, want: "[######----] 69%"},
		{name: "full volume: full bar", row: liveRow{Observed: true, UsedPercent: 100}, want: "[##########] 100%"},
		{name: "over 100 % (reserved blocks): bar stays full, number says it", row: liveRow{Observed: true, UsedPercent: 104.2}, want: "[##########] 104%"},
		{name: "no figures: a dash, no bar", row: liveRow{Observed: false, UsedPercent: 40}, want: "-"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := usedCell(c.row); got != c.want {
				t.Errorf("usedCell = %q, want %q", got, c.want)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	cases := []struct {
		name string
		text string
		n    int
		want string
	}{
		{name: "short text unchanged", text: "cooldown", n: 10, want: "cooldown"},
		{name: "exactly n runes unchanged", text: "0123456789", n: 10, want: "0123456789"},
		{name: "long text ends in an ellipsis, n runes in all", text: "0123456789ab", n: 10, want: "012345678…"},
		{name: "cut counts runes, never splits one", text: "1Gi → 2Gi → 4Gi", n: 6, want: "1Gi →…"},
		{name: "newlines become spaces", text: "a\nb", n: 10, want: "a b"},
		{name: "no limit", text: "0123456789", n: 0, want: "0123456789"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := truncate(c.text, c.n); got != c.want {
				t.Errorf("truncate(%q, %d) = %q, want %q", c.text, c.n, got, c.want)
			}
		})
	}
}

func TestTerminalFirstFrameIsTheWholeViewWithoutCursorMovement(t *testing.T) {
	view := newLiveView(true, "Cluster demo/orders", []string{"Prometheus: http://127.0.0.1:9090"})
	got := view.render(liveFrame{
		Elapsed: 65 * time.Second, PolicyState: "Active",
		Rows:    []liveRow{filling("orders-1", 52.3), {PVC: "orders-2", Request: "1Gi"}},
		Growths: []string{"+1m grew data 1Gi → 2Gi (planned, usedPercent 70.1 >= 70)"},
	})
	want := strings.Join([]string{
		"Cluster demo/orders   +1m5s elapsed   policy state: Active",
		"  Prometheus: http://127.0.0.1:9090",
		"",
		"PVC       REQUEST  CAPACITY  USED              STATE  TIME TO FULL  DECISION",
		"orders-1  1Gi      1Gi       [#####-----] 52%  Idle   1m30s         usedPercent below trigger 70",
		"orders-2  1Gi      -         -                 -      -             -",
		"",
		"  +1m grew data 1Gi → 2Gi (planned, usedPercent 70.1 >= 70)",
	}, "\n") + "\n"
	if got != want {
		t.Errorf("first frame:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(got, "\x1b") {
		t.Errorf("first frame moves the cursor: %q", got)
	}
}

func TestTerminalRedrawReplacesThePreviousFrame(t *testing.T) {
	view := newLiveView(true, "Cluster demo/orders", nil)
	frames := []liveFrame{
		{Rows: []liveRow{filling("orders-1", 10)}},
		// A growth line makes this frame two lines longer.
		{Rows: []liveRow{filling("orders-1", 71)}, Growths: []string{"+40s grew data 1Gi → 2Gi"}},
		{Rows: []liveRow{filling("orders-1", 35)}, Growths: []string{"+40s grew data 1Gi → 2Gi"}},
	}
	previousLines := 0
	for index, frame := range frames {
		got := view.render(frame)
		body := got
		if previousLines > 0 {
			prefix := fmt.Sprintf("\x1b[%dA\r\x1b[J", previousLines)
			if !strings.HasPrefix(got, prefix) {
				t.Fatalf("frame %d starts %q, want the cursor moved up over the previous frame's %d lines: %q", index, got, previousLines, prefix)
			}
			body = strings.TrimPrefix(got, prefix)
		}
		if strings.Contains(body, "\x1b") {
			t.Fatalf("frame %d has a cursor movement after its prefix: %q", index, got)
		}
		if !strings.HasSuffix(body, "\n") {
			t.Fatalf("frame %d does not end its last line: %q", index, got)
		}
		previousLines = strings.Count(body, "\n")
	}
	if previousLines != 6 {
		t.Errorf("last frame took %d lines, want 6 (title, blank, table header, row, blank, growth)", previousLines)
	}
}

func TestTerminalLinesFitTheWidth(t *testing.T) {
	row := filling("orders-1", 40)
	row.Decision = strings.Repeat("a long reason ", 20)
	view := newLiveView(true, "Cluster demo/orders", nil)
	got := view.render(liveFrame{Rows: []liveRow{row}, Width: 60})
	for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if width := len([]rune(line)); width > 59 {
			t.Errorf("line of %d runes on a 60-column terminal would wrap: %q", width, line)
		}
	}
	wide := newLiveView(true, "Cluster demo/orders", nil).render(liveFrame{Rows: []liveRow{row}})
	if !strings.Contains(wide, truncate(row.Decision, decisionRunes)+"\n") || strings.Contains(wide, row.Decision) {
		t.Errorf("without a width the decision is cut at %d runes:\n%s", decisionRunes, wide)
	}
}

func TestPipePrintsOnlyWhatChanged(t *testing.T) {
	grown := filling("orders-1", 12)
	grown.Request, grown.Capacity = "2Gi", "2Gi"
	steps := []struct {
		name  string
		frame liveFrame
		want  []string
	}{
		{
			name: "first frame: title, notes, state and every row",
			frame: liveFrame{Elapsed: 0, PolicyState: "Active",
				Rows: []liveRow{filling("orders-1", 41), filling("orders-2", 40)}},
			want: []string{
				"Cluster demo/orders",
				"  a note",
				"+0s  policy state: Active",
				"+0s  orders-1: request 1Gi, capacity 1Gi, used [####------] 41%, Idle, time to full 1m30s: usedPercent below trigger 70",
				"+0s  orders-2: request 1Gi, capacity 1Gi, used [####------] 40%, Idle, time to full 1m30s: usedPercent below trigger 70",
			},
		},
		{
			name: "percent moves inside the same bar cell: nothing",
			frame: liveFrame{Elapsed: 5 * time.Second, PolicyState: "Active",
				Rows: []liveRow{filling("orders-1", 45), filling("orders-2", 44)}},
			want: nil,
		},
		{
			name: "one row's bar grows a cell: that row only",
			frame: liveFrame{Elapsed: 10 * time.Second, PolicyState: "Active",
				Rows: []liveRow{filling("orders-1", 50.5), filling("orders-2", 48)}},
			want: []string{
				"+10s  orders-1: request 1Gi, capacity 1Gi, used [#####-----] 50%, Idle, time to full 1m30s: usedPercent below trigger 70",
			},
		},
		{
			name: "a growth: the grown row and the growth line, once",
			frame: liveFrame{Elapsed: 40 * time.Second, PolicyState: "Active",
				Rows:    []liveRow{grown, filling("orders-2", 48)},
				Growths: []string{"+38s grew data 1Gi → 2Gi (planned, usedPercent 70.1 >= 70)"}},
			want: []string{
				"+40s  orders-1: request 2Gi, capacity 2Gi, used [#---------] 12%, Idle, time to full 1m30s: usedPercent below trigger 70",
				"+38s grew data 1Gi → 2Gi (planned, usedPercent 70.1 >= 70)",
			},
		},
		{
			name: "policy state changes: one line for it",
			frame: liveFrame{Elapsed: 45 * time.Second, PolicyState: "Blocked",
				Rows:    []liveRow{grown, filling("orders-2", 48)},
				Growths: []string{"+38s grew data 1Gi → 2Gi (planned, usedPercent 70.1 >= 70)"}},
			want: []string{"+45s  policy state: Blocked"},
		},
	}
	view := newLiveView(false, "Cluster demo/orders", []string{"a note"})
	for _, step := range steps {
		got := view.render(step.frame)
		want := ""
		if len(step.want) > 0 {
			want = strings.Join(step.want, "\n") + "\n"
		}
		if got != want {
			t.Errorf("%s:\n%s\nwant:\n%s", step.name, got, want)
		}
		if strings.Contains(got, "\x1b") {
			t.Errorf("%s: cursor movement on a pipe: %q", step.name, got)
		}
	}
}

func TestLiveRowsJoinPVCsWithThePolicyStatus(t *testing.T) {
	pvc := func(name, request, capacity string) corev1.PersistentVolumeClaim {
		claim := corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}}
		claim.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(request)}
		if capacity != "" {
			claim.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(capacity)}
		}
		return claim
	}
	rows := liveRows(
		[]corev1.PersistentVolumeClaim{pvc("orders-2", "1Gi", ""), pvc("orders-1", "2Gi", "1Gi"), pvc("orders-1-wal", "1Gi", "1Gi")},
		[]v1alpha1.VolumeStatus{
			{PVC: "orders-1", UsedBytes: 700 << 20, FreeBytes: 300 << 20, UsedPercent: 70.2, State: v1alpha1.VolumeGrowing,
				Reason: "usedPercent 70.2 >= 70", TimeToFull: &metav1.Duration{Duration: 37 * time.Second}},
			// Only a rate: free space over it.
			{PVC: "orders-1-wal", UsedBytes: 1 << 20, FreeBytes: 512 << 20, UsedPercent: 1, FillRateBytesPerHour: 1 << 30, State: v1alpha1.VolumeIdle},
		})
	want := []liveRow{
		{PVC: "orders-1", Request: "2Gi", Capacity: "1Gi", Observed: true, UsedPercent: 70.2, State: "Growing",
			Decision: "usedPercent 70.2 >= 70", TimeToFull: 37 * time.Second},
		{PVC: "orders-1-wal", Request: "1Gi", Capacity: "1Gi", Observed: true, UsedPercent: 1, State: "Idle", TimeToFull: 30 * time.Minute},
		{PVC: "orders-2", Request: "1Gi"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("liveRows:\n%+v\nwant:\n%+v", rows, want)
	}
}

func TestGrowthLinesAndTheDataGrowthCount(t *testing.T) {
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	record := func(role v1alpha1.VolumeRole, after time.Duration, from, to string, outcome v1alpha1.GrowthOutcome) v1alpha1.GrowthRecord {
		return v1alpha1.GrowthRecord{
			Time: metav1.NewTime(start.Add(after)), Role: role, From: resource.MustParse(from), To: resource.MustParse(to),
			Kind: v1alpha1.GrowthPlanned, Trigger: "usedPercent 70.1 >= 70", Outcome: outcome,
		}
	}
	failed := record(v1alpha1.RoleWAL, 3*time.Minute, "1Gi", "2Gi", v1alpha1.OutcomeFailed)
	failed.Message = "quota\nexceeded"
	history := []v1alpha1.GrowthRecord{
		record(v1alpha1.RoleData, -2*time.Minute, "1Gi", "2Gi", v1alpha1.OutcomeSucceeded),
		record(v1alpha1.RoleData, 65*time.Second, "2Gi", "3Gi", v1alpha1.OutcomeInProgress),
		failed,
	}
	want := []string{
		"-2m grew data 1Gi → 2Gi (planned, usedPercent 70.1 >= 70)",
		"+1m5s growing data 2Gi → 3Gi (planned, usedPercent 70.1 >= 70)",
		"+3m growth of wal 1Gi → 2Gi failed: quota exceeded",
	}
	if got := growthLines(history, start); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("growthLines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	history = append(history, record(v1alpha1.RoleData, 4*time.Minute, "2Gi", "3Gi", v1alpha1.OutcomeSucceeded))
	if got := dataGrowths(history, start); got != 1 {
		t.Errorf("dataGrowths = %d, want 1: only finished growths of the data volumes since the start count", got)
	}
}
