package framework

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestPartsOf(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want QueryParts
	}{
		{
			expr: `pgstorage_volume_state{state="AtLimit"} == 1`,
			want: QueryParts{Selectors: []Selector{{Metric: "pgstorage_volume_state", Matchers: []Matcher{{"state", "=", "AtLimit"}}}}},
		},
		{
			expr: `pgstorage:volume_used:ratio >= on (namespace, cluster, pvc) pgstorage_volume_critical_used_ratio`,
			want: QueryParts{
				Selectors: []Selector{{Metric: "pgstorage:volume_used:ratio"}, {Metric: "pgstorage_volume_critical_used_ratio"}},
				Grouping:  []string{"cluster", "namespace", "pvc"},
			},
		},
		{
			// A metric's name inside a matcher's value is no selector; a
			// comma or a brace inside a value splits nothing.
			expr: `sum by (pod, le) (rate(pgstorage_sidecar_probe_duration_seconds_bucket{pod=~"a,b}", note!="pgstorage_x"}[5m]))`,
			want: QueryParts{
				Selectors: []Selector{{Metric: "pgstorage_sidecar_probe_duration_seconds_bucket",
					Matchers: []Matcher{{"pod", "=~", "a,b}"}, {"note", "!=", "pgstorage_x"}}}},
				Grouping: []string{"le", "pod"},
			},
		},
		{
			expr: `absent(pgstorage_reconcile_duration_seconds_count)`,
			want: QueryParts{Selectors: []Selector{{Metric: "pgstorage_reconcile_duration_seconds_count"}}},
		},
	} {
		got, err := PartsOf(tc.expr, "pgstorage")
		if err != nil {
			t.Errorf("PartsOf(%q): %v", tc.expr, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("PartsOf(%q)\n got %+v\nwant %+v", tc.expr, got, tc.want)
		}
	}
	for _, bad := range []string{`vector(1)`, `pgstorage_x{state="a"`, `pgstorage_x{state}`} {
		if _, err := PartsOf(bad, "pgstorage"); err == nil {
			t.Errorf("PartsOf(%q) is no error", bad)
		}
	}
}

// Every expression the add-on ships is one PartsOf reads: the E2E spec that
// checks them against a real Prometheus never skips one.
func TestPartsOfEveryShippedExpression(t *testing.T) {
	dashboard, err := DashboardExpressions(filepath.Join("..", "..", "deploy", "grafana", "cnpg-storage-autoscaler.json"))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := RuleExpressions(filepath.Join("..", "..", "deploy", "prometheus", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dashboard) < 20 || len(rules) < 10 {
		t.Fatalf("%d dashboard and %d rule expressions: the files were not read", len(dashboard), len(rules))
	}
	for _, e := range append(dashboard, rules...) {
		parts, err := PartsOf(e.Query, "pgstorage")
		if err != nil {
			t.Errorf("%s: %v", e.Source, err)
			continue
		}
		for _, s := range parts.Selectors {
			if s.Metric == "pgstorage" {
				t.Errorf("%s: a selector without a metric name: %q", e.Source, e.Query)
			}
		}
	}
}
