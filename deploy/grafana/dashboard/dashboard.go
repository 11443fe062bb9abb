// Package dashboard builds the add-on's Grafana dashboard (DESIGN §10) with
// the Grafana Foundation SDK: an overview of every chosen cluster, then one
// row per cluster with its volumes' figures, growths, holds, budget and the
// health of its probe sidecars.
//
// Every query is built from the metric and label names the controller
// (controllers/metrics) and the sidecar (sidecar/metrics) declare, so a
// rename there changes the dashboard, and the tests check the generated
// JSON against what their registries really export. `make manifests` writes
// it to deploy/grafana/cnpg-storage-autoscaler.json (go run
// ./deploy/grafana/gen); never edit that file by hand.
package dashboard

// The SDK marks its classic dashboard model deprecated in favour of
// dashboardv2, the schema of Grafana 12's v2 dashboards API. The classic
// JSON model is what every Grafana since 9 imports and what Grafana's
// dashboard sidecar provisions, so this package builds that.
//lint:file-ignore SA1019 the classic dashboard model is deliberate (see above)

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	sdk "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/metrics"
)

const (
	// UID is the dashboard's stable identity in Grafana: links and
	// re-imports find it by this.
	UID   = "cnpg-storage-autoscaler"
	Title = "CloudNativePG storage autoscaler"

	// VariableDatasource names the Prometheus data source variable, as in
	// CloudNativePG's own dashboard.
	VariableDatasource = "DS_PROMETHEUS"
)

// Build returns the dashboard.
func Build() (sdk.Dashboard, error) {
	builder := sdk.NewDashboardBuilder(Title).
		Uid(UID).
		Description("Volumes of CloudNativePG clusters grown by cnpg-storage-autoscaler: how full they are, how fast they fill, "+
			"what the add-on grew and what holds it back.").
		Tags([]string{"cloudnative-pg", "postgresql", "storage", "cnpg-storage-autoscaler"}).
		Editable().
		Tooltip(sdk.DashboardCursorSyncCrosshair).
		Refresh("1m").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(datasourceVariable()).
		WithVariable(namespaceVariable()).
		WithVariable(clusterVariable())
	overview(builder)
	perCluster(builder)
	board, err := builder.Build()
	if err != nil {
		return sdk.Dashboard{}, fmt.Errorf("build the dashboard: %w", err)
	}
	identify(&board)
	return board, nil
}

// identify numbers the panels and rows, and names each panel's queries A,
// B, … where the builder did not. Grafana expects both to be unique (the
// SDK leaves every row's id 0); a table's columns are named after the
// queries' refIds.
func identify(board *sdk.Dashboard) {
	var id uint32
	for _, item := range board.Panels {
		id++
		if item.RowPanel != nil {
			item.RowPanel.Id = id
			continue
		}
		item.Panel.Id = cog.ToPtr(id)
		for index, target := range item.Panel.Targets {
			// The SDK's builders hold queries by value.
			if query, ok := target.(prometheus.Dataquery); ok && query.RefId == nil {
				query.RefId = cog.ToPtr(string(rune('A' + index)))
				item.Panel.Targets[index] = query
			}
		}
	}
}

// JSON returns the dashboard as the file Grafana imports and its sidecar
// loads: indented, ending with a newline.
func JSON() ([]byte, error) {
	board, err := Build()
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(board, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode the dashboard: %w", err)
	}
	return append(out, '\n'), nil
}

func datasourceVariable() *sdk.DatasourceVariableBuilder {
	return sdk.NewDatasourceVariableBuilder(VariableDatasource).
		Label("Data source").
		Type("prometheus")
}

// The namespace and cluster variables list only clusters the controller
// reports, that is clusters with a StorageAutoscalePolicy.
func namespaceVariable() *sdk.QueryVariableBuilder {
	return listVariable(VariableNamespace, "Namespace",
		fmt.Sprintf("label_values(%s, %s)", metrics.MetricVolumeCapacityBytes, metrics.LabelNamespace))
}

func clusterVariable() *sdk.QueryVariableBuilder {
	return listVariable(VariableCluster, "Cluster",
		fmt.Sprintf("label_values(%s, %s)",
			selector(metrics.MetricVolumeCapacityBytes, matches(metrics.LabelNamespace, variable(VariableNamespace))),
			metrics.LabelCluster))
}

// listVariable offers a label's values, several at once or all; it is
// refreshed with the time range, so new clusters appear without a reload.
func listVariable(name, label, labelValues string) *sdk.QueryVariableBuilder {
	return sdk.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(datasource()).
		Query(sdk.StringOrMap{String: cog.ToPtr(labelValues)}).
		Definition(labelValues).
		Refresh(sdk.VariableRefreshOnTimeRangeChanged).
		Sort(sdk.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		Current(sdk.VariableOption{Text: sdk.StringOrArrayOfString{String: cog.ToPtr("All")},
			Value: sdk.StringOrArrayOfString{String: cog.ToPtr("$__all")}})
}
