package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/metrics"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
	sidecarmetrics "github.com/pgstorage/cnpg-storage-autoscaler/sidecar/metrics"
)

// generatedFile is where `make manifests` writes the dashboard.
func generatedFile() string {
	return filepath.Join(testenv.RepoRoot(), "deploy", "grafana", "cnpg-storage-autoscaler.json")
}

// The JSON the chart and users install is what Build returns now.
func TestTheGeneratedFileIsCurrent(t *testing.T) {
	want, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(generatedFile())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run `make manifests`", generatedFile())
	}
}

// jsonDashboard is the part of Grafana's dashboard JSON the tests read.
type jsonDashboard struct {
	UID        string      `json:"uid"`
	Panels     []jsonPanel `json:"panels"`
	Templating struct {
		List []jsonVariable `json:"list"`
	} `json:"templating"`
}

type jsonPanel struct {
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Repeat     string          `json:"repeat"`
	Datasource *jsonDatasource `json:"datasource"`
	Targets    []struct {
		Datasource   *jsonDatasource `json:"datasource"`
		Expr         string          `json:"expr"`
		LegendFormat string          `json:"legendFormat"`
		RefID        string          `json:"refId"`
	} `json:"targets"`
	Panels []jsonPanel `json:"panels"`
	// row is the title of the row the panel sits under (set by load).
	row string
}

type jsonDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type jsonVariable struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Query      any             `json:"query"`
	Datasource *jsonDatasource `json:"datasource"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
}

// load reads the generated file; each panel knows its row.
func load(t *testing.T) (jsonDashboard, []jsonPanel) {
	t.Helper()
	raw, err := os.ReadFile(generatedFile())
	if err != nil {
		t.Fatal(err)
	}
	var board jsonDashboard
	if err := json.Unmarshal(raw, &board); err != nil {
		t.Fatalf("%s: %v", generatedFile(), err)
	}
	var panels []jsonPanel
	row := ""
	for _, panel := range board.Panels {
		if panel.Type == "row" {
			row = panel.Title
			for _, nested := range panel.Panels {
				nested.row = row
				panels = append(panels, nested)
			}
			continue
		}
		panel.row = row
		panels = append(panels, panel)
	}
	return board, panels
}

var legendLabel = regexp.MustCompile(`{{\s*([^}\s]+)\s*}}`)

// checkQuery lists what is wrong with one query: a series no program
// exports, a label its series do not carry, a selector that ignores the
// dashboard's variables.
func checkQuery(families map[string]family, expr, legend string) []string {
	read, err := readPromQL(expr)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	labels := map[string]bool{}
	for _, s := range read.selectors {
		f, ok := familyOf(families, s.metric)
		if !ok {
			problems = append(problems, fmt.Sprintf("reads %s, which neither the controller nor the sidecar exports", s.metric))
			continue
		}
		for label := range f.labels {
			labels[label] = true
		}
		for label := range s.matchers {
			if !f.labels[label] {
				problems = append(problems, fmt.Sprintf("matches %s on label %q, which it does not carry", s.metric, label))
			}
		}
		// Series of a cluster must follow the namespace and cluster
		// variables, or the chosen clusters would show others' figures.
		switch {
		case f.sidecar:
			if !strings.Contains(s.matchers[LabelTargetNamespace], variable(VariableNamespace)) ||
				!strings.Contains(s.matchers[LabelTargetPod], variable(VariableCluster)) {
				problems = append(problems, fmt.Sprintf("selects %s of every instance, not of $%s's", s.metric, VariableCluster))
			}
		case f.labels[metrics.LabelCluster]:
			if !strings.Contains(s.matchers[metrics.LabelNamespace], variable(VariableNamespace)) ||
				!strings.Contains(s.matchers[metrics.LabelCluster], variable(VariableCluster)) {
				problems = append(problems, fmt.Sprintf("selects %s of every cluster, not of $%s's", s.metric, VariableCluster))
			}
		}
	}
	for _, label := range read.grouping {
		if !labels[label] {
			problems = append(problems, fmt.Sprintf("groups by %q, which none of its series carries", label))
		}
	}
	for _, match := range legendLabel.FindAllStringSubmatch(legend, -1) {
		switch label := match[1]; {
		case !labels[label]:
			problems = append(problems, fmt.Sprintf("legend shows %q, which none of its series carries", label))
		case read.keptBy != nil && !slices.Contains(read.keptBy, label):
			problems = append(problems, fmt.Sprintf("legend shows %q, which its aggregation by (%s) drops", label, strings.Join(read.keptBy, ", ")))
		}
	}
	return problems
}

// labelValues splits Grafana's label_values(selector, label).
var labelValues = regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// Every query of the dashboard reads series and labels the controller or
// the sidecar really exports: a rename there fails here, not silently on
// a user's screen.
func TestQueriesReadWhatIsExported(t *testing.T) {
	families := exportedFamilies(t)
	board, panels := load(t)
	queries := 0
	for _, panel := range panels {
		for _, target := range panel.Targets {
			queries++
			for _, problem := range checkQuery(families, target.Expr, target.LegendFormat) {
				t.Errorf("panel %q, query %s: %s\n  %s", panel.Title, target.RefID, problem, target.Expr)
			}
		}
	}
	for _, v := range board.Templating.List {
		if v.Type != "query" {
			continue
		}
		query, _ := v.Query.(string)
		parts := labelValues.FindStringSubmatch(query)
		if parts == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, query)
			continue
		}
		read, err := readPromQL(parts[1])
		if err != nil || len(read.selectors) != 1 {
			t.Errorf("variable %s: %q is not one selector (%v)", v.Name, parts[1], err)
			continue
		}
		f, ok := familyOf(families, read.selectors[0].metric)
		if !ok || !f.labels[parts[2]] {
			t.Errorf("variable %s lists label %q of %s, which is not exported", v.Name, parts[2], read.selectors[0].metric)
		}
	}
	if queries < 25 {
		t.Errorf("only %d queries in %s", queries, generatedFile())
	}
}

// The check above fails on the mistakes it is there for.
func TestCheckQueryCatchesMistakes(t *testing.T) {
	families := exportedFamilies(t)
	ofOrders := `{namespace=~"$namespace", cluster=~"$cluster"}`
	for _, tc := range []struct{ name, expr, legend, want string }{
		{"a misspelt metric", "pgstorage_volume_usedbytes" + ofOrders, "", "neither the controller nor the sidecar exports"},
		{"a misspelt label", `pgstorage_volume_used_bytes{namespace=~"$namespace", clsuter=~"$cluster"}`, "", `label "clsuter"`},
		{"a sidecar label on a controller series", `pgstorage_volume_used_bytes{namespace=~"$namespace", cluster=~"$cluster", volume="pgdata"}`, "", `label "volume"`},
		{"grouping by a label of no series", "sum by (gate) (pgstorage_volume_used_bytes" + ofOrders + ")", "", `groups by "gate"`},
		{"a legend of no label", "pgstorage_volume_used_bytes" + ofOrders, "{{ instance_name }}", `legend shows "instance_name"`},
		{"a legend of a label aggregated away", "sum by (state) (pgstorage_volume_state" + ofOrders + ")", "{{pvc}}", "by (state) drops"},
		{"a cluster series ignoring the variables", "pgstorage_blocked", "", "of every cluster"},
		{"a sidecar series ignoring the variables", `pgstorage_sidecar_postgres_reachable{namespace=~"$namespace"}`, "", "of every instance"},
		{"a histogram's bucket bound on its count", `pgstorage_reconcile_duration_seconds_count{le="1"}`, "", `label "le"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := checkQuery(families, tc.expr, tc.legend)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("%s: problems %q, want one saying %q", tc.expr, problems, tc.want)
			}
		})
	}
	if problems := checkQuery(families, `histogram_quantile(0.99, sum by (pod, le) (rate(`+sidecarmetrics.MetricProbeDurationSeconds+
		`_bucket{namespace=~"$namespace", pod=~"$cluster-[1-9][0-9]*"}[5m])))`, "p99 {{pod}}"); len(problems) != 0 {
		t.Errorf("a correct query was refused: %q", problems)
	}
}

// The dashboard shows what issue #20 promised, each panel reading the
// series that answer its question, in its row.
func TestThePromisedPanels(t *testing.T) {
	_, panels := load(t)
	byTitle := map[string]jsonPanel{}
	for _, panel := range panels {
		if _, twice := byTitle[panel.Title]; twice {
			t.Errorf("two panels are titled %q", panel.Title)
		}
		byTitle[panel.Title] = panel
	}
	for _, promised := range []struct {
		row, title string
		reads      []string
		groupsBy   []string
	}{
		{TitleOverviewRow, TitleClusters, []string{metrics.MetricVolumeUsedBytes, metrics.MetricVolumeTimeToFullSeconds,
			metrics.MetricBlocked, metrics.MetricBudgetRemaining, metrics.MetricGrowthsTotal}, []string{metrics.LabelNamespace, metrics.LabelCluster}},
		{TitleOverviewRow, TitleFullestVolume, []string{metrics.MetricVolumeUsedBytes, metrics.MetricVolumeFreeBytes}, nil},
		{TitleOverviewRow, TitleShortestTimeToFull, []string{metrics.MetricVolumeTimeToFullSeconds}, nil},
		{TitleOverviewRow, TitleVolumesHeld, []string{metrics.MetricBlocked}, nil},
		{TitleOverviewRow, TitleVolumesByState, []string{metrics.MetricVolumeState}, []string{metrics.LabelState}},
		{TitleOverviewRow, TitleReactionLatency, []string{metrics.MetricReactionLatencySeconds + "_bucket"}, []string{metrics.LabelKind}},
		{TitleClusterRow, TitleUsed, []string{metrics.MetricVolumeUsedBytes, metrics.MetricVolumeFreeBytes, metrics.MetricVolumeCriticalUsedRatio}, nil},
		{TitleClusterRow, TitleCapacity, []string{metrics.MetricVolumeCapacityBytes, metrics.MetricVolumeRequestedBytes, metrics.MetricVolumeLimitBytes}, nil},
		{TitleClusterRow, TitleFillRate, []string{sidecarmetrics.MetricVolumeFillRateBytesPerSecond}, nil},
		{TitleClusterRow, TitleTimeToFull, []string{metrics.MetricVolumeTimeToFullSeconds}, nil},
		{TitleClusterRow, TitleVolumeStates, []string{metrics.MetricVolumeState}, []string{metrics.LabelPVC, metrics.LabelState, metrics.LabelGate}},
		{TitleClusterRow, TitleGrowths, []string{metrics.MetricGrowthsTotal}, []string{metrics.LabelKind, metrics.LabelOutcome}},
		{TitleClusterRow, TitleHolds, []string{metrics.MetricBlocked}, []string{metrics.LabelGate}},
		{TitleClusterRow, TitleBudgetLeft, []string{metrics.MetricBudgetRemaining}, []string{metrics.LabelKind}},
		{TitleClusterRow, TitleMeasurementAge, []string{sidecarmetrics.MetricLastProbeSuccessTimestamp}, nil},
		{TitleClusterRow, TitleProbeDuration, []string{sidecarmetrics.MetricProbeDurationSeconds + "_bucket"}, []string{LabelTargetPod}},
		{TitleClusterRow, TitleObservationWrites, []string{sidecarmetrics.MetricObservationWritesTotal}, []string{sidecarmetrics.LabelOutcome}},
		{TitleClusterRow, TitlePostgresReachable, []string{sidecarmetrics.MetricPostgresReachable}, nil},
	} {
		panel, found := byTitle[promised.title]
		if !found {
			t.Errorf("no panel %q", promised.title)
			continue
		}
		if panel.row != promised.row {
			t.Errorf("panel %q is in row %q, want %q", promised.title, panel.row, promised.row)
		}
		reads, groups := map[string]bool{}, map[string]bool{}
		for _, target := range panel.Targets {
			read, err := readPromQL(target.Expr)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range read.selectors {
				reads[s.metric] = true
			}
			for _, label := range read.grouping {
				groups[label] = true
			}
		}
		for _, metric := range promised.reads {
			if !reads[metric] {
				t.Errorf("panel %q does not read %s", promised.title, metric)
			}
		}
		for _, label := range promised.groupsBy {
			if !groups[label] {
				t.Errorf("panel %q does not group by %s", promised.title, label)
			}
		}
	}
}

// The variables follow CloudNativePG's dashboard: a Prometheus data source
// variable every query uses, then namespace and cluster; the cluster row
// repeats per chosen cluster.
func TestVariables(t *testing.T) {
	board, panels := load(t)
	if board.UID != UID {
		t.Errorf("uid %q, want %q", board.UID, UID)
	}
	var names []string
	for _, v := range board.Templating.List {
		names = append(names, v.Name)
	}
	if want := []string{VariableDatasource, VariableNamespace, VariableCluster}; !slices.Equal(names, want) {
		t.Fatalf("variables %v, want %v", names, want)
	}
	datasource, namespace, cluster := board.Templating.List[0], board.Templating.List[1], board.Templating.List[2]
	if datasource.Type != "datasource" || datasource.Query != "prometheus" {
		t.Errorf("%s is a %s variable of %v, want a datasource variable of prometheus", datasource.Name, datasource.Type, datasource.Query)
	}
	for _, v := range []jsonVariable{namespace, cluster} {
		if v.Type != "query" || !v.Multi || !v.IncludeAll {
			t.Errorf("%s: type %s, multi %v, includeAll %v; want a query variable offering several values and All", v.Name, v.Type, v.Multi, v.IncludeAll)
		}
	}
	if query, _ := cluster.Query.(string); !strings.Contains(query, variable(VariableNamespace)) {
		t.Errorf("the cluster variable does not follow the namespace: %q", query)
	}

	want := jsonDatasource{Type: "prometheus", UID: "${" + VariableDatasource + "}"}
	for _, v := range []jsonVariable{namespace, cluster} {
		if v.Datasource == nil || *v.Datasource != want {
			t.Errorf("variable %s queries %+v, want %+v", v.Name, v.Datasource, want)
		}
	}
	for _, panel := range panels {
		if panel.Datasource == nil || *panel.Datasource != want {
			t.Errorf("panel %q queries %+v, want %+v", panel.Title, panel.Datasource, want)
		}
		for _, target := range panel.Targets {
			if target.Datasource == nil || *target.Datasource != want {
				t.Errorf("panel %q, query %s queries %+v, want %+v", panel.Title, target.RefID, target.Datasource, want)
			}
		}
	}

	var rows []jsonPanel
	for _, panel := range board.Panels {
		if panel.Type == "row" {
			rows = append(rows, panel)
		}
	}
	if len(rows) != 2 || rows[0].Title != TitleOverviewRow || rows[1].Title != TitleClusterRow || rows[1].Repeat != VariableCluster {
		t.Errorf("rows %+v: want the overview, then %q repeated over the cluster variable", rows, TitleClusterRow)
	}
}
