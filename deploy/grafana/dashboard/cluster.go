package dashboard

//lint:file-ignore SA1019 the classic dashboard model is deliberate: see dashboard.go.

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	sdk "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/metrics"
	sidecarmetrics "github.com/pgstorage/cnpg-storage-autoscaler/sidecar/metrics"
)

// Titles of a cluster's panels; the tests find them by these.
const (
	TitleClusterRow          = "Cluster $" + VariableCluster
	TitleUsed                = "Used"
	TitleCapacity            = "Capacity, request and limit"
	TitleFillRate            = "Fill rate"
	TitleTimeToFull          = "Time to full"
	TitleVolumeStates        = "Volume states"
	TitleGrowths             = "Growths, by kind and outcome"
	TitleHolds               = "Held back, by reason"
	TitleBudgetLeft          = "Budget left"
	TitleMeasurementAge      = "Age of the latest measurement"
	TitleProbeDuration       = "Probe duration"
	TitleObservationWrites   = "Observation writes"
	TitlePostgresReachable   = "PostgreSQL reachable"
	TitleObservationsIgnored = "Observations ignored"
)

// Suffixes of the legends in the capacity and used panels, which the
// overrides that draw limits dashed match.
const (
	legendCapacity = " capacity"
	legendRequest  = " request"
	legendLimit    = " limit"
	legendCritical = " critical"
)

func legend(label string) string { return "{{" + label + "}}" }

// perCluster adds one row per chosen cluster (Grafana repeats it over the
// cluster variable): per volume, then per cluster, then its sidecars.
func perCluster(board *sdk.DashboardBuilder) {
	board.WithRow(sdk.NewRowBuilder(TitleClusterRow).Repeat(VariableCluster))
	pvc := legend(metrics.LabelPVC)

	// Per volume.
	board.WithPanel(timeSeries(TitleUsed,
		"Share of each volume in use, reserved blocks counted as used, and (dashed) the policy's critical threshold at which "+
			"it is grown as an emergency.", unitRatio, 12, 8).
		WithTarget(query(usedRatio(), pvc)).
		WithTarget(query(ofClusters(metrics.MetricVolumeCriticalUsedRatio), pvc+legendCritical)).
		Min(0).Max(1).
		OverrideByRegexp(".*"+legendCritical+"$", dashed()))
	board.WithPanel(timeSeries(TitleCapacity,
		"Per PVC: its filesystem's capacity (status.capacity), what it requests (spec.resources.requests; capacity follows "+
			"when the resize finishes) and (dashed) the policy's limit past which it is never grown.", unitBytes, 12, 8).
		WithTarget(query(ofClusters(metrics.MetricVolumeCapacityBytes), pvc+legendCapacity)).
		WithTarget(query(ofClusters(metrics.MetricVolumeRequestedBytes), pvc+legendRequest)).
		WithTarget(query(ofClusters(metrics.MetricVolumeLimitBytes), pvc+legendLimit)).
		Min(0).
		OverrideByRegexp(".*"+legendLimit+"$", dashed()))
	board.WithPanel(timeSeries(TitleFillRate,
		"How fast each volume fills, from the sidecar's own samples (negative when it empties), per instance.", unitBytesPerSecond, 8, 8).
		WithTarget(query(ofInstances(sidecarmetrics.MetricVolumeFillRateBytesPerSecond), legend(sidecarmetrics.LabelPVC))))
	board.WithPanel(timeSeries(TitleTimeToFull,
		"When each volume is full at its current fill rate; no line while it is not filling.", unitSeconds, 8, 8).
		WithTarget(query(ofClusters(metrics.MetricVolumeTimeToFullSeconds), pvc)).
		Min(0).
		Thresholds(thresholds(timeToFullThresholds())).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed)))
	board.WithPanel(volumeStates())

	// Per cluster.
	board.WithPanel(countBars(TitleGrowths,
		"Growths by kind (planned, emergency) and outcome: Started (PVC patched), Succeeded, Failed (the storage driver failed "+
			"or it timed out), Refused (a ResourceQuota refused the patch).", 8, 8).
		WithTarget(query(aggregate("sum", increase(ofClusters(metrics.MetricGrowthsTotal), panelStep),
			metrics.LabelKind, metrics.LabelOutcome), legend(metrics.LabelKind)+" "+legend(metrics.LabelOutcome))))
	board.WithPanel(timeSeries(TitleHolds,
		"PVCs whose growth a gate holds back, by gate (maintenance window, budget, cooldown, WAL safety, ResourceQuota, "+
			"a failed resize …); the policy's status.volumes[].reason says why.", unitCount, 8, 8).
		WithTarget(query(aggregate("sum", ofClusters(metrics.MetricBlocked), metrics.LabelGate), legend(metrics.LabelGate))).
		Decimals(0).Min(0).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)))
	board.WithPanel(singleStat(TitleBudgetLeft,
		"Growths the rolling 24-hour budget still allows, by kind; at 0 further growth of that kind waits "+
			"(PGStorageBudgetExhausted).", unitCount, 8, 8).
		// A range query: the sparkline shows when the budget was spent.
		WithTarget(query(aggregate("min", ofClusters(metrics.MetricBudgetRemaining), metrics.LabelKind), legend(metrics.LabelKind))).
		GraphMode(common.BigValueGraphModeArea).
		Decimals(0).
		Thresholds(thresholds(thresholdsConfig("red", step(1, "orange"), step(2, "green")))))

	// The probe sidecars.
	pod := legend(LabelTargetPod)
	board.WithPanel(timeSeries(TitleMeasurementAge,
		"Time since each instance's sidecar last measured every volume. The controller treats an observation older than "+
			"its policy's observationMaxAge as stale and grows nothing on it.", unitSeconds, 8, 8).
		// The gauge is 0 until the first complete probe.
		WithTarget(query("time() - ("+ofInstances(sidecarmetrics.MetricLastProbeSuccessTimestamp)+" > 0)", pod)).
		Min(0))
	board.WithPanel(timeSeries(TitleProbeDuration,
		"Wall time of one probe cycle (statfs of every volume and the PostgreSQL queries), per instance.", unitSeconds, 8, 8).
		WithTarget(query(quantile(0.99, sidecarmetrics.MetricProbeDurationSeconds, ofInstances, LabelTargetPod), "p99 "+pod)).
		Min(0))
	board.WithPanel(timeSeries(TitleObservationWrites,
		"StorageObservation writes per second, by instance and outcome; failed writes leave the controller with stale figures.",
		"ops", 8, 8).
		WithTarget(query(aggregate("sum", "rate("+ofInstances(sidecarmetrics.MetricObservationWritesTotal)+"["+rateInterval+"])",
			LabelTargetPod, sidecarmetrics.LabelOutcome), pod+" "+legend(sidecarmetrics.LabelOutcome))).
		Min(0))
	board.WithPanel(reachable())
	board.WithPanel(countBars(TitleObservationsIgnored,
		"Observations the controller ignored because they disagree with their pod, by reason; "+
			"the policy's ObservationsRejected condition says which.", 12, 6).
		WithTarget(query(aggregate("sum", increase(ofClusters(metrics.MetricObservationsRejectedTotal), panelStep),
			metrics.LabelReason), legend(metrics.LabelReason))))
}

// volumeStates lists each PVC's state and the gate that holds it, now.
func volumeStates() *table.PanelBuilder {
	columns := []string{metrics.LabelPVC, metrics.LabelRole, metrics.LabelTablespace, metrics.LabelState, metrics.LabelGate}
	return tableOf(TitleVolumeStates,
		"Each PVC's state in the policy's status and the gate that holds it (empty: nothing does).", 8, 8,
		map[string]string{
			metrics.LabelPVC: "PVC", metrics.LabelRole: "Role", metrics.LabelTablespace: "Tablespace",
			metrics.LabelState: "State", metrics.LabelGate: "Gate",
		}, "Value").
		WithTarget(tableQuery(aggregate("max", ofClusters(metrics.MetricVolumeState)+" == 1", columns...), "A"))
}

// reachable shows, per instance, whether the sidecar reached PostgreSQL.
func reachable() *stat.PanelBuilder {
	return singleStat(TitlePostgresReachable,
		"Whether each instance's sidecar reached PostgreSQL (as cnpg_metrics_exporter) in its last probe; without it WAL "+
			"health is unknown and the WAL safety gate holds planned WAL growth.", unitCount, 12, 6).
		WithTarget(instant(ofInstances(sidecarmetrics.MetricPostgresReachable), legend(LabelTargetPod))).
		ColorMode(common.BigValueColorModeBackground).
		Mappings([]sdk.ValueMapping{{ValueMap: &sdk.ValueMap{Type: sdk.MappingTypeValueToText, Options: map[string]sdk.ValueMappingResult{
			"1": {Text: cog.ToPtr("yes"), Color: cog.ToPtr("green")},
			"0": {Text: cog.ToPtr("no"), Color: cog.ToPtr("red")},
		}}}})
}
