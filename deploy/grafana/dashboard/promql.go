package dashboard

import (
	"fmt"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/metrics"
)

// Labels Prometheus gives every series of a scraped pod (Kubernetes service
// discovery, as the chart's PodMonitor configures it). The sidecar's own
// series carry no cluster label: a CNPG instance pod is named
// <cluster>-<serial>, so its pod label tells its cluster, the pattern
// CloudNativePG's own dashboard selects instances by.
const (
	LabelTargetNamespace = "namespace"
	LabelTargetPod       = "pod"
)

// The dashboard's variables (besides the data source's) and the Grafana
// macros the queries use.
const (
	VariableNamespace = "namespace"
	VariableCluster   = "cluster"

	rateInterval = "$__rate_interval"
	panelRange   = "$__range"
	panelStep    = "$__interval"
)

// selector is a series selector: a metric name and its label matchers.
func selector(metric string, matchers ...string) string {
	if len(matchers) == 0 {
		return metric
	}
	return metric + "{" + strings.Join(matchers, ", ") + "}"
}

func equals(label, value string) string    { return fmt.Sprintf("%s=%q", label, value) }
func matches(label, pattern string) string { return fmt.Sprintf("%s=~%q", label, pattern) }
func variable(name string) string          { return "$" + name }
func oneOf(values ...string) string        { return strings.Join(values, "|") }
func aggregate(op, expr string, by ...string) string {
	return fmt.Sprintf("%s by (%s) (%s)", op, strings.Join(by, ", "), expr)
}

// ofClusters selects the controller's series of the clusters chosen in the
// namespace and cluster variables (inside the repeated row: of one cluster).
func ofClusters(metric string, matchers ...string) string {
	return selector(metric, append([]string{
		matches(metrics.LabelNamespace, variable(VariableNamespace)),
		matches(metrics.LabelCluster, variable(VariableCluster)),
	}, matchers...)...)
}

// ofInstances selects the sidecar series of the chosen clusters' instance
// pods.
func ofInstances(metric string, matchers ...string) string {
	return selector(metric, append([]string{
		matches(LabelTargetNamespace, variable(VariableNamespace)),
		matches(LabelTargetPod, variable(VariableCluster)+"-[1-9][0-9]*"),
	}, matchers...)...)
}

// usedRatio is the share of a volume in use, reserved blocks counted as
// used, as the planner judges its triggers. The recording rule
// pgstorage:volume_used:ratio is the same; the dashboard does not read it,
// so it works without the alert rules installed.
func usedRatio() string {
	used := ofClusters(metrics.MetricVolumeUsedBytes)
	return fmt.Sprintf("%s / (%s + %s)", used, used, ofClusters(metrics.MetricVolumeFreeBytes))
}

// quantile is the q-quantile of a histogram over the rate interval, per
// value of the by labels.
func quantile(q float64, histogram string, selectorOf func(string, ...string) string, by ...string) string {
	rate := fmt.Sprintf("rate(%s[%s])", selectorOf(histogram+"_bucket"), rateInterval)
	return fmt.Sprintf("histogram_quantile(%g, %s)", q, aggregate("sum", rate, append(by, model.BucketLabel)...))
}

// increase is a counter's increase over window.
func increase(counter, window string) string {
	return fmt.Sprintf("increase(%s[%s])", counter, window)
}
