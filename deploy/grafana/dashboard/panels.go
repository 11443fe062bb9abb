package dashboard

import (
	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	sdk "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Units of Grafana's field config.
const (
	unitBytes          = "bytes"
	unitBytesPerSecond = "Bps"
	unitSeconds        = "s"
	unitRatio          = "percentunit"
	unitCount          = "short"
)

// datasource is every query's data source: the dashboard's data source
// variable.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${" + VariableDatasource + "}")}
}

// query is a range query with a legend.
func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(datasource()).Expr(expr).LegendFormat(legend).Range()
}

// instant is an instant query: a value now, for a stat, bar gauge or table.
func instant(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(datasource()).Expr(expr).LegendFormat(legend).Instant()
}

// tableQuery is an instant query whose labels become table columns.
func tableQuery(expr, refID string) *prometheus.DataqueryBuilder {
	return instant(expr, "").Format(prometheus.PromQueryFormatTable).RefId(refID)
}

// thresholdsConfig colours by value: base below the first step.
func thresholdsConfig(base string, steps ...sdk.Threshold) sdk.ThresholdsConfig {
	return sdk.ThresholdsConfig{Mode: sdk.ThresholdsModeAbsolute, Steps: append([]sdk.Threshold{{Color: base}}, steps...)}
}

func thresholds(config sdk.ThresholdsConfig) *sdk.ThresholdsConfigBuilder {
	return sdk.NewThresholdsConfigBuilder().Mode(config.Mode).Steps(config.Steps)
}

func step(value float64, color string) sdk.Threshold {
	return sdk.Threshold{Value: cog.ToPtr(value), Color: color}
}

// usedThresholds colour a volume's used share at the policy's default
// trigger (80%: a planned growth) and critical threshold (95%: an
// emergency growth).
func usedThresholds() sdk.ThresholdsConfig {
	return thresholdsConfig("green", step(0.80, "orange"), step(0.95, "red"))
}

// timeToFullThresholds: less than 12 hours pages when the add-on cannot
// grow the volume (PGStorageVolumePredictedFull), less than 3 days deserves
// a look.
func timeToFullThresholds() sdk.ThresholdsConfig {
	return thresholdsConfig("red", step(12*3600, "orange"), step(3*24*3600, "green"))
}

// timeSeries is a line chart with a table legend that shows the last and
// largest value.
func timeSeries(title, description, unit string, width, height uint32) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).Description(description).Datasource(datasource()).
		Unit(unit).Span(width).Height(height).
		FillOpacity(10).ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).DisplayMode(common.LegendDisplayModeTable).Placement(common.LegendPlacementBottom).
			Calcs([]string{"lastNotNull", "max"}))
}

// countBars is a bar chart of counts per panel step, stacked.
func countBars(title, description string, width, height uint32) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).Description(description).Datasource(datasource()).
		Unit(unitCount).Decimals(0).Min(0).Span(width).Height(height).
		DrawStyle(common.GraphDrawStyleBars).FillOpacity(80).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
		// An increase needs two samples in its window: at least two
		// scrapes (30s apart by default) per bar.
		Interval("1m").
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).DisplayMode(common.LegendDisplayModeTable).Placement(common.LegendPlacementBottom).
			Calcs([]string{"sum"}))
}

// singleStat is one number, coloured by thresholds.
func singleStat(title, description, unit string, width, height uint32) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).Description(description).Datasource(datasource()).
		Unit(unit).Span(width).Height(height).
		ColorMode(common.BigValueColorModeValue).GraphMode(common.BigValueGraphModeNone).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
}

// bars is a horizontal bar gauge per series.
func bars(title, description, unit string, width, height uint32) *bargauge.PanelBuilder {
	return bargauge.NewPanelBuilder().
		Title(title).Description(description).Datasource(datasource()).
		Unit(unit).Span(width).Height(height).
		Orientation(common.VizOrientationHorizontal).DisplayMode(common.BarGaugeDisplayModeGradient).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
}

// tableOf is a table of instant queries merged on their common labels,
// with columns renamed and hidden by the organize transformation.
func tableOf(title, description string, width, height uint32, rename map[string]string, hide ...string) *table.PanelBuilder {
	excluded := map[string]bool{"Time": true}
	for _, column := range hide {
		excluded[column] = true
	}
	return table.NewPanelBuilder().
		Title(title).Description(description).Datasource(datasource()).
		Span(width).Height(height).
		WithTransformation(sdk.DataTransformerConfig{Id: "merge", Options: map[string]any{}}).
		WithTransformation(sdk.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": excluded,
			"renameByName":  rename,
		}})
}

// withUnit is an override's unit.
func withUnit(unit string) []sdk.DynamicConfigValue {
	return []sdk.DynamicConfigValue{{Id: "unit", Value: unit}}
}

// dashed draws the series of an override dashed: thresholds and limits,
// not measurements.
func dashed() []sdk.DynamicConfigValue {
	return []sdk.DynamicConfigValue{{Id: "custom.lineStyle", Value: map[string]any{"fill": "dash", "dash": []int{10, 10}}}}
}
