// Package metrics holds the controller's Prometheus metrics (DESIGN §10),
// all prefixed pgstorage_. The dashboard and the alert rules read these
// names and labels: renaming one is a breaking change.
//
// A Recorder is created once per process and registered on the registry it
// is given (controller-runtime's metrics.Registry in the binary, a private
// registry in tests); nothing here is global.
package metrics

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "pgstorage"

// Recorder updates the controller's metrics.
type Recorder struct {
	volumeCapacityBytes *prometheus.GaugeVec
	volumeUsedBytes     *prometheus.GaugeVec
	volumeFreeBytes     *prometheus.GaugeVec
	volumeTimeToFull    *prometheus.GaugeVec
	growths             *prometheus.CounterVec
	blocked             *prometheus.GaugeVec
	reactionLatency     *prometheus.HistogramVec
	reconcileDuration   prometheus.Histogram
	budgetRemaining     *prometheus.GaugeVec
	kubeletNudges       *prometheus.CounterVec
	rejected            *prometheus.CounterVec

	// reported remembers which PVCs and gates each cluster's series were
	// set for, so that a PVC or gate that went away loses its series.
	mu       sync.Mutex
	reported map[clusterKey]reportedSeries
}

type clusterKey struct{ namespace, cluster string }

type reportedSeries struct {
	volumes map[Volume]bool
	gates   map[string]bool
}

// Volume identifies one PVC's series.
type Volume struct {
	PVC  string
	Role string
	// Tablespace is empty for data and WAL volumes.
	Tablespace string
}

// VolumeFigures are one PVC's measured figures; Observed is false when
// no fresh observation backs them, and the figure series are then removed
// rather than left at their last value.
type VolumeFigures struct {
	Volume
	CapacityBytes     int64
	Observed          bool
	UsedBytes         int64
	FreeBytes         int64
	TimeToFullSeconds float64
}

var volumeLabels = []string{"namespace", "cluster", "pvc", "role", "tablespace"}

// New creates the metrics and registers them on registerer.
func New(registerer prometheus.Registerer) (*Recorder, error) {
	r := &Recorder{
		volumeCapacityBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "volume_capacity_bytes",
			Help: "PVC status.capacity of a CNPG volume.",
		}, volumeLabels),
		volumeUsedBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "volume_used_bytes",
			Help: "Used bytes of a CNPG volume's filesystem (reserved blocks counted as used), from its latest fresh observation.",
		}, volumeLabels),
		volumeFreeBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "volume_free_bytes",
			Help: "Bytes PostgreSQL can still write on a CNPG volume (statfs f_bavail), from its latest fresh observation.",
		}, volumeLabels),
		volumeTimeToFull: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "volume_time_to_full_seconds",
			Help: "Seconds until a CNPG volume is full at its current fill rate; absent when it is not filling.",
		}, volumeLabels),
		growths: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "growths_total",
			Help: "Growths of a volume role by kind (planned|emergency) and outcome (Started|Succeeded|Failed|Refused).",
		}, []string{"namespace", "cluster", "kind", "outcome"}),
		blocked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "blocked",
			Help: "PVCs whose growth is held back, by the gate that holds them (planner gates, ResourceQuota, ResizeFailed).",
		}, []string{"namespace", "cluster", "gate"}),
		reactionLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "reaction_latency_seconds",
			Help:    "Time from an observation's observedAt to the PVC patch it caused.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 180},
		}, []string{"kind"}),
		reconcileDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "reconcile_duration_seconds",
			Help:    "Duration of one policy reconcile: snapshot, plan, act and report.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}),
		budgetRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "budget_remaining",
			Help: "Growths still allowed in the rolling 24h budget, by kind (planned|emergency).",
		}, []string{"namespace", "cluster", "kind"}),
		kubeletNudges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "kubelet_nudges_total",
			Help: "Instance pods annotated so that kubelet grows a filesystem waiting in NodeResizePending now, by outcome (Nudged|Failed).",
		}, []string{"namespace", "cluster", "outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "observations_rejected_total",
			Help: "StorageObservations ignored because they disagree with their pod, counted once per observation and reason " +
				"(ForeignInstance|PodNotFound|ForeignCluster|PodUIDMismatch|PVCNotMounted|FromTheFuture); see the policy's ObservationsRejected condition.",
		}, []string{"namespace", "cluster", "reason"}),
		reported: map[clusterKey]reportedSeries{},
	}
	for _, collector := range []prometheus.Collector{
		r.volumeCapacityBytes, r.volumeUsedBytes, r.volumeFreeBytes, r.volumeTimeToFull,
		r.growths, r.blocked, r.reactionLatency, r.reconcileDuration, r.budgetRemaining, r.kubeletNudges, r.rejected,
	} {
		if err := registerer.Register(collector); err != nil {
			return nil, fmt.Errorf("register controller metrics: %w", err)
		}
	}
	return r, nil
}

// ObserveReconcile records one reconcile's duration.
func (r *Recorder) ObserveReconcile(seconds float64) {
	if r == nil {
		return
	}
	r.reconcileDuration.Observe(seconds)
}

// ObserveReaction records the time from an observation to the PVC patch it caused.
func (r *Recorder) ObserveReaction(kind string, seconds float64) {
	if r == nil {
		return
	}
	r.reactionLatency.WithLabelValues(kind).Observe(max(seconds, 0))
}

// CountGrowth counts a growth of a role reaching an outcome.
func (r *Recorder) CountGrowth(namespace, cluster, kind, outcome string) {
	if r == nil {
		return
	}
	r.growths.WithLabelValues(namespace, cluster, kind, outcome).Inc()
}

// CountObservationRejected counts an observation the controller ignores,
// by why (the policy's ObservationsRejected condition says which).
func (r *Recorder) CountObservationRejected(namespace, cluster, reason string) {
	if r == nil {
		return
	}
	r.rejected.WithLabelValues(namespace, cluster, reason).Inc()
}

// CountNudge counts one kubelet nudge (a pod annotation patch) by outcome.
func (r *Recorder) CountNudge(namespace, cluster, outcome string) {
	if r == nil {
		return
	}
	r.kubeletNudges.WithLabelValues(namespace, cluster, outcome).Inc()
}

// SetBudget records what the rolling budget still allows.
func (r *Recorder) SetBudget(namespace, cluster string, plannedLeft, emergencyLeft int32) {
	if r == nil {
		return
	}
	r.budgetRemaining.WithLabelValues(namespace, cluster, "planned").Set(float64(plannedLeft))
	r.budgetRemaining.WithLabelValues(namespace, cluster, "emergency").Set(float64(emergencyLeft))
}

// SetCluster replaces the per-PVC and per-gate series of one cluster:
// series of PVCs or gates not in this call are deleted.
func (r *Recorder) SetCluster(namespace, cluster string, volumes []VolumeFigures, blockedByGate map[string]int) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := clusterKey{namespace, cluster}
	previous := r.reported[key]
	current := reportedSeries{volumes: map[Volume]bool{}, gates: map[string]bool{}}
	for _, v := range volumes {
		labels := prometheus.Labels{"namespace": namespace, "cluster": cluster, "pvc": v.PVC, "role": v.Role, "tablespace": v.Tablespace}
		current.volumes[v.Volume] = true
		r.volumeCapacityBytes.With(labels).Set(float64(v.CapacityBytes))
		if !v.Observed {
			r.volumeUsedBytes.Delete(labels)
			r.volumeFreeBytes.Delete(labels)
			r.volumeTimeToFull.Delete(labels)
			continue
		}
		r.volumeUsedBytes.With(labels).Set(float64(v.UsedBytes))
		r.volumeFreeBytes.With(labels).Set(float64(v.FreeBytes))
		if v.TimeToFullSeconds > 0 {
			r.volumeTimeToFull.With(labels).Set(v.TimeToFullSeconds)
		} else {
			r.volumeTimeToFull.Delete(labels)
		}
	}
	for v := range previous.volumes {
		if !current.volumes[v] {
			r.deleteVolume(namespace, cluster, v)
		}
	}
	for gate, count := range blockedByGate {
		current.gates[gate] = true
		r.blocked.WithLabelValues(namespace, cluster, gate).Set(float64(count))
	}
	for gate := range previous.gates {
		if !current.gates[gate] {
			r.blocked.DeleteLabelValues(namespace, cluster, gate)
		}
	}
	r.reported[key] = current
}

// ForgetCluster deletes every series of a cluster whose policy is gone.
func (r *Recorder) ForgetCluster(namespace, cluster string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	match := prometheus.Labels{"namespace": namespace, "cluster": cluster}
	for _, vec := range []*prometheus.GaugeVec{r.volumeCapacityBytes, r.volumeUsedBytes, r.volumeFreeBytes, r.volumeTimeToFull, r.blocked, r.budgetRemaining} {
		vec.DeletePartialMatch(match)
	}
	delete(r.reported, clusterKey{namespace, cluster})
}

func (r *Recorder) deleteVolume(namespace, cluster string, v Volume) {
	labels := prometheus.Labels{"namespace": namespace, "cluster": cluster, "pvc": v.PVC, "role": v.Role, "tablespace": v.Tablespace}
	for _, vec := range []*prometheus.GaugeVec{r.volumeCapacityBytes, r.volumeUsedBytes, r.volumeFreeBytes, r.volumeTimeToFull} {
		vec.Delete(labels)
	}
}
