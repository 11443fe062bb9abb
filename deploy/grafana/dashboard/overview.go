package dashboard

//lint:file-ignore SA1019 the classic dashboard model is deliberate: see dashboard.go.

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	sdk "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/metrics"
)

// Titles of the overview's panels; the tests find them by these.
const (
	TitleOverviewRow        = "Overview: every chosen cluster"
	TitleVolumes            = "Volumes"
	TitleFullestVolume      = "Fullest volume"
	TitleShortestTimeToFull = "Shortest time to full"
	TitleVolumesHeld        = "Volumes held back"
	TitleGrowthsSucceeded   = "Growths succeeded"
	TitleGrowthsNotDone     = "Growths failed or refused"
	TitleClusters           = "Clusters"
	TitleUsedByVolume       = "Used, by volume"
	TitleVolumesByState     = "Volumes by state"
	TitleReactionLatency    = "Reaction latency"
	TitleReconcileDuration  = "Reconcile duration"
)

// Columns of the clusters table.
const (
	columnFullest        = "Fullest volume"
	columnTimeToFull     = "Shortest time to full"
	columnHeld           = "Volumes held back"
	columnPlannedLeft    = "Planned growths left"
	columnEmergencyLeft  = "Emergency growths left"
	columnGrowthsInRange = "Growths in range"
)

// overview adds the row that sums up every cluster chosen in the variables.
func overview(board *sdk.DashboardBuilder) {
	board.WithRow(sdk.NewRowBuilder(TitleOverviewRow))

	board.WithPanel(singleStat(TitleVolumes, "PVCs of the chosen clusters the add-on reports on.", unitCount, 4, 4).
		WithTarget(instant("count("+ofClusters(metrics.MetricVolumeCapacityBytes)+")", "")).
		Thresholds(thresholds(thresholdsConfig("blue"))))
	board.WithPanel(singleStat(TitleFullestVolume,
		"The largest share in use of any volume (reserved blocks counted as used), as the triggers judge it.", unitRatio, 4, 4).
		WithTarget(instant("max("+usedRatio()+")", "")).
		Thresholds(thresholds(usedThresholds())))
	board.WithPanel(singleStat(TitleShortestTimeToFull,
		"The soonest any volume is full at its current fill rate; empty when none is filling.", unitSeconds, 4, 4).
		WithTarget(instant("min("+ofClusters(metrics.MetricVolumeTimeToFullSeconds)+")", "")).
		Thresholds(thresholds(timeToFullThresholds())))
	board.WithPanel(singleStat(TitleVolumesHeld,
		"PVCs whose growth a gate holds back now (window, budget, cooldown, WAL safety, quota, a failed resize …); "+
			"see the cluster's row for which.", unitCount, 4, 4).
		WithTarget(instant("sum("+ofClusters(metrics.MetricBlocked)+") or vector(0)", "")).
		Thresholds(thresholds(thresholdsConfig("green", step(1, "orange")))))
	board.WithPanel(singleStat(TitleGrowthsSucceeded, "Growths that finished in the dashboard's time range.", unitCount, 4, 4).
		WithTarget(instant("sum("+increase(ofClusters(metrics.MetricGrowthsTotal,
			equals(metrics.LabelOutcome, string(v1alpha1.OutcomeSucceeded))), panelRange)+") or vector(0)", "")).
		Decimals(0).
		Thresholds(thresholds(thresholdsConfig("blue"))))
	board.WithPanel(singleStat(TitleGrowthsNotDone,
		"Growths the storage driver failed or a ResourceQuota refused in the dashboard's time range.", unitCount, 4, 4).
		WithTarget(instant("sum("+increase(ofClusters(metrics.MetricGrowthsTotal,
			matches(metrics.LabelOutcome, oneOf(string(v1alpha1.OutcomeFailed), metrics.OutcomeRefused))), panelRange)+") or vector(0)", "")).
		Decimals(0).
		Thresholds(thresholds(thresholdsConfig("green", step(1, "red")))))

	board.WithPanel(clustersTable())

	board.WithPanel(bars(TitleUsedByVolume, "Share in use of every volume, fullest first.", unitRatio, 12, 8).
		WithTarget(instant("sort_desc("+usedRatio()+")", "{{"+metrics.LabelNamespace+"}}/{{"+metrics.LabelPVC+"}}")).
		Min(0).Max(1).
		Thresholds(thresholds(usedThresholds())))
	board.WithPanel(timeSeries(TitleVolumesByState,
		"PVCs by their state in the policies' status: Idle, Growing, Queued (for a maintenance window), Blocked, AtLimit, "+
			"Stale (no fresh measurement).", unitCount, 12, 8).
		WithTarget(query(aggregate("sum", ofClusters(metrics.MetricVolumeState), metrics.LabelState), "{{"+metrics.LabelState+"}}")).
		Decimals(0).Min(0).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)))

	// The controller's own latencies carry no cluster label: one
	// controller serves every cluster.
	board.WithPanel(timeSeries(TitleReactionLatency,
		"Time from an observation's observedAt to the PVC patch it caused, by growth kind, over every cluster "+
			"(PGStorageReactionLatencyHigh fires when the 99th percentile passes 60 s).", unitSeconds, 12, 8).
		WithTarget(query(quantile(0.5, metrics.MetricReactionLatencySeconds, selector, metrics.LabelKind), "p50 {{"+metrics.LabelKind+"}}")).
		WithTarget(query(quantile(0.99, metrics.MetricReactionLatencySeconds, selector, metrics.LabelKind), "p99 {{"+metrics.LabelKind+"}}")).
		Min(0))
	board.WithPanel(timeSeries(TitleReconcileDuration,
		"Duration of one policy reconcile (snapshot, plan, act, report), over every cluster.", unitSeconds, 12, 8).
		WithTarget(query(quantile(0.5, metrics.MetricReconcileDurationSeconds, selector), "p50")).
		WithTarget(query(quantile(0.99, metrics.MetricReconcileDurationSeconds, selector), "p99")).
		Min(0))
}

// clustersTable has one line per cluster: its fullest volume, its soonest
// full volume, what is held, and what its budget still allows.
func clustersTable() *table.PanelBuilder {
	perCluster := func(op, expr string) string {
		return aggregate(op, expr, metrics.LabelNamespace, metrics.LabelCluster)
	}
	return tableOf(TitleClusters, "One line per cluster; its own row below has the details.", 24, 7,
		map[string]string{
			metrics.LabelNamespace: "Namespace",
			metrics.LabelCluster:   "Cluster",
			"Value #A":             columnFullest,
			"Value #B":             columnTimeToFull,
			"Value #C":             columnHeld,
			"Value #D":             columnPlannedLeft,
			"Value #E":             columnEmergencyLeft,
			"Value #F":             columnGrowthsInRange,
		}).
		WithTarget(tableQuery(perCluster("max", usedRatio()), "A")).
		WithTarget(tableQuery(perCluster("min", ofClusters(metrics.MetricVolumeTimeToFullSeconds)), "B")).
		WithTarget(tableQuery(perCluster("sum", ofClusters(metrics.MetricBlocked)), "C")).
		WithTarget(tableQuery(perCluster("sum", ofClusters(metrics.MetricBudgetRemaining,
			equals(metrics.LabelKind, string(v1alpha1.GrowthPlanned)))), "D")).
		WithTarget(tableQuery(perCluster("sum", ofClusters(metrics.MetricBudgetRemaining,
			equals(metrics.LabelKind, string(v1alpha1.GrowthEmergency)))), "E")).
		WithTarget(tableQuery(perCluster("sum", increase(ofClusters(metrics.MetricGrowthsTotal,
			equals(metrics.LabelOutcome, string(v1alpha1.OutcomeSucceeded))), panelRange)), "F")).
		OverrideByName(columnFullest, append(withUnit(unitRatio),
			sdk.DynamicConfigValue{Id: "custom.cellOptions", Value: map[string]any{"type": "color-text"}},
			sdk.DynamicConfigValue{Id: "thresholds", Value: usedThresholds()})).
		OverrideByName(columnTimeToFull, withUnit(unitSeconds)).
		OverrideByName(columnGrowthsInRange, []sdk.DynamicConfigValue{{Id: "decimals", Value: 0}})
}
