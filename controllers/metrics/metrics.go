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
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Names of the controller's series. The dashboard (deploy/grafana) builds
// its queries from these constants; the alert rules are checked against
// what the Recorder exports (rules_test.go).
const (
	MetricVolumeCapacityBytes       = "pgstorage_volume_capacity_bytes"
	MetricVolumeRequestedBytes      = "pgstorage_volume_requested_bytes"
	MetricVolumeLimitBytes          = "pgstorage_volume_limit_bytes"
	MetricVolumeUsedBytes           = "pgstorage_volume_used_bytes"
	MetricVolumeFreeBytes           = "pgstorage_volume_free_bytes"
	MetricVolumeTimeToFullSeconds   = "pgstorage_volume_time_to_full_seconds"
	MetricVolumeInodesTotal         = "pgstorage_volume_inodes_total"
	MetricVolumeInodesFree          = "pgstorage_volume_inodes_free"
	MetricVolumeState               = "pgstorage_volume_state"
	MetricVolumeCriticalUsedRatio   = "pgstorage_volume_critical_used_ratio"
	MetricGrowthsTotal              = "pgstorage_growths_total"
	MetricBlocked                   = "pgstorage_blocked"
	MetricReactionLatencySeconds    = "pgstorage_reaction_latency_seconds"
	MetricReconcileDurationSeconds  = "pgstorage_reconcile_duration_seconds"
	MetricBudgetRemaining           = "pgstorage_budget_remaining"
	MetricKubeletNudgesTotal        = "pgstorage_kubelet_nudges_total"
	MetricPolicyCondition           = "pgstorage_policy_condition"
	MetricWALUnsafe                 = "pgstorage_wal_unsafe"
	MetricObservationsRejectedTotal = "pgstorage_observations_rejected_total"
)

// Outcomes of MetricGrowthsTotal besides those of a finished growth
// (v1alpha1.OutcomeSucceeded and OutcomeFailed).
const (
	// OutcomeStarted counts a PVC patch that starts a growth.
	OutcomeStarted = "Started"
	// OutcomeRefused counts a growth the API server refused (a
	// ResourceQuota), so it never started.
	OutcomeRefused = "Refused"
)

// Label names of the controller's series; the alert rules
// (deploy/prometheus/rules.yaml) match on them.
const (
	LabelNamespace  = "namespace"
	LabelCluster    = "cluster"
	LabelPVC        = "pvc"
	LabelRole       = "role"
	LabelTablespace = "tablespace"
	LabelState      = "state"
	LabelGate       = "gate"
	LabelKind       = "kind"
	LabelOutcome    = "outcome"
	LabelCondition  = "condition"
	LabelCause      = "cause"
	LabelReason     = "reason"
)

// Recorder updates the controller's metrics.
type Recorder struct {
	volumeCapacityBytes  *prometheus.GaugeVec
	volumeRequestedBytes *prometheus.GaugeVec
	volumeLimitBytes     *prometheus.GaugeVec
	volumeUsedBytes      *prometheus.GaugeVec
	volumeFreeBytes      *prometheus.GaugeVec
	volumeTimeToFull     *prometheus.GaugeVec
	growths              *prometheus.CounterVec
	blocked              *prometheus.GaugeVec
	reactionLatency      *prometheus.HistogramVec
	reconcileDuration    prometheus.Histogram
	budgetRemaining      *prometheus.GaugeVec
	kubeletNudges        *prometheus.CounterVec
	volumeState          *prometheus.GaugeVec
	volumeCriticalRatio  *prometheus.GaugeVec
	volumeInodesTotal    *prometheus.GaugeVec
	volumeInodesFree     *prometheus.GaugeVec
	policyCondition      *prometheus.GaugeVec
	walUnsafe            *prometheus.GaugeVec
	rejected             *prometheus.CounterVec

	// reported remembers which PVCs and gates each cluster's series were
	// set for, so that a PVC or gate that went away loses its series.
	mu       sync.Mutex
	reported map[clusterKey]reportedSeries
}

type clusterKey struct{ namespace, cluster string }

type reportedSeries struct {
	// volumes maps each PVC to the state series it was set with.
	volumes    map[Volume]volumeState
	gates      map[string]bool
	conditions map[string]bool
	walCause   string
}

type volumeState struct{ state, gate string }

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
	CapacityBytes int64
	// RequestedBytes is the PVC's spec.resources.requests.storage.
	RequestedBytes int64
	// LimitBytes is the rule's limit, past which the PVC is never grown;
	// 0: no rule grows it.
	LimitBytes        int64
	Observed          bool
	UsedBytes         int64
	FreeBytes         int64
	TimeToFullSeconds float64
	InodesTotal       int64
	InodesFree        int64
	// State and Gate are the PVC's status row's (Idle, Growing, Queued,
	// Blocked, AtLimit, Stale; the gate that holds it, or "").
	State string
	Gate  string
	// CriticalUsedPercent is the rule's critical threshold; 0: none.
	CriticalUsedPercent int32
}

var volumeLabels = []string{LabelNamespace, LabelCluster, LabelPVC, LabelRole, LabelTablespace}

func (v Volume) labels(namespace, cluster string) prometheus.Labels {
	return prometheus.Labels{LabelNamespace: namespace, LabelCluster: cluster, LabelPVC: v.PVC, LabelRole: v.Role, LabelTablespace: v.Tablespace}
}

func (v Volume) stateLabels(namespace, cluster string, state volumeState) prometheus.Labels {
	labels := v.labels(namespace, cluster)
	labels[LabelState], labels[LabelGate] = state.state, state.gate
	return labels
}

// New creates the metrics and registers them on registerer.
func New(registerer prometheus.Registerer) (*Recorder, error) {
	r := &Recorder{
		volumeCapacityBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricVolumeCapacityBytes,
			Help: "PVC status.capacity of a CNPG volume.",
		}, volumeLabels),
		volumeRequestedBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricVolumeRequestedBytes,
			Help: "PVC spec.resources.requests.storage of a CNPG volume: what the add-on (or CNPG) asked for; capacity catches up when the resize finishes.",
		}, volumeLabels),
		volumeLimitBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricVolumeLimitBytes,
			Help: "The policy's limit of a CNPG volume, past which it is never grown; absent when no rule grows it.",
		}, volumeLabels),
		volumeUsedBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricVolumeUsedBytes,
			Help: "Used bytes of a CNPG volume's filesystem (reserved blocks counted as used), from its latest fresh observation.",
		}, volumeLabels),
		volumeFreeBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricVolumeFreeBytes,
			Help: "Bytes PostgreSQL can still write on a CNPG volume (statfs f_bavail), from its latest fresh observation.",
		}, volumeLabels),
		volumeTimeToFull: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricVolumeTimeToFullSeconds,
			Help: "Seconds until a CNPG volume is full at its current fill rate; absent when it is not filling.",
		}, volumeLabels),
		growths: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricGrowthsTotal,
			Help: "Growths of a volume role by kind (planned|emergency) and outcome (Started|Succeeded|Failed|Refused).",
		}, []string{LabelNamespace, LabelCluster, LabelKind, LabelOutcome}),
		blocked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricBlocked,
			Help: "PVCs whose growth is held back, by the gate that holds them (planner gates, ResourceQuota, ResizeFailed).",
		}, []string{LabelNamespace, LabelCluster, LabelGate}),
		reactionLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricReactionLatencySeconds,
			Help:    "Time from an observation's observedAt to the PVC patch it caused.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 180},
		}, []string{LabelKind}),
		reconcileDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    MetricReconcileDurationSeconds,
			Help:    "Duration of one policy reconcile: snapshot, plan, act and report.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}),
		budgetRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricBudgetRemaining,
			Help: "Growths still allowed in the rolling 24h budget, by kind (planned|emergency).",
		}, []string{LabelNamespace, LabelCluster, LabelKind}),
		kubeletNudges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricKubeletNudgesTotal,
			Help: "Instance pods annotated so that kubelet grows a filesystem waiting in NodeResizePending now, by outcome (Nudged|Failed).",
		}, []string{LabelNamespace, LabelCluster, LabelOutcome}),
		volumeState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricVolumeState,
			Help: "1 for a CNPG volume's state in the policy status (Idle|Growing|Queued|Blocked|AtLimit|Stale) and the gate that holds it (empty when none); one series per PVC.",
		}, append(slices.Clone(volumeLabels), LabelState, LabelGate)),
		volumeCriticalRatio: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricVolumeCriticalUsedRatio,
			Help: "The policy's critical threshold of a CNPG volume (critical.usedPercent / 100), at which it is grown as an emergency; absent when no rule grows it.",
		}, volumeLabels),
		volumeInodesTotal: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricVolumeInodesTotal,
			Help: "Inodes of a CNPG volume's filesystem, from its latest fresh observation.",
		}, volumeLabels),
		volumeInodesFree: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricVolumeInodesFree,
			Help: "Free inodes of a CNPG volume's filesystem, from its latest fresh observation.",
		}, volumeLabels),
		policyCondition: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricPolicyCondition,
			Help: "1 when a condition of the cluster's StorageAutoscalePolicy is True, 0 when False.",
		}, []string{LabelNamespace, LabelCluster, LabelCondition}),
		walUnsafe: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricWALUnsafe,
			Help: "1 while the primary's WAL health stops the WAL safety gate, by cause (ArchiveFailing|SlotRetention|Unknown); absent while it is fine.",
		}, []string{LabelNamespace, LabelCluster, LabelCause}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricObservationsRejectedTotal,
			Help: "StorageObservations ignored because they disagree with their pod, counted once per observation and reason " +
				"(ForeignInstance|PodNotFound|ForeignCluster|PodUIDMismatch|PVCNotMounted|FromTheFuture); see the policy's ObservationsRejected condition.",
		}, []string{LabelNamespace, LabelCluster, LabelReason}),
		reported: map[clusterKey]reportedSeries{},
	}
	for _, collector := range []prometheus.Collector{
		r.volumeCapacityBytes, r.volumeRequestedBytes, r.volumeLimitBytes, r.volumeUsedBytes, r.volumeFreeBytes, r.volumeTimeToFull,
		r.growths, r.blocked, r.reactionLatency, r.reconcileDuration, r.budgetRemaining, r.kubeletNudges,
		r.volumeState, r.volumeCriticalRatio, r.volumeInodesTotal, r.volumeInodesFree, r.policyCondition, r.walUnsafe, r.rejected,
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
	current := previous
	current.volumes, current.gates = map[Volume]volumeState{}, map[string]bool{}
	for _, v := range volumes {
		labels := v.labels(namespace, cluster)
		state := volumeState{state: v.State, gate: v.Gate}
		current.volumes[v.Volume] = state
		if old, known := previous.volumes[v.Volume]; known && old != state {
			r.volumeState.Delete(v.stateLabels(namespace, cluster, old))
		}
		r.volumeState.With(v.stateLabels(namespace, cluster, state)).Set(1)
		r.volumeCapacityBytes.With(labels).Set(float64(v.CapacityBytes))
		r.volumeRequestedBytes.With(labels).Set(float64(v.RequestedBytes))
		setOrDelete(r.volumeLimitBytes, labels, float64(v.LimitBytes), v.LimitBytes > 0)
		setOrDelete(r.volumeCriticalRatio, labels, float64(v.CriticalUsedPercent)/100, v.CriticalUsedPercent > 0)
		if !v.Observed {
			for _, vec := range []*prometheus.GaugeVec{r.volumeUsedBytes, r.volumeFreeBytes, r.volumeTimeToFull, r.volumeInodesTotal, r.volumeInodesFree} {
				vec.Delete(labels)
			}
			continue
		}
		r.volumeUsedBytes.With(labels).Set(float64(v.UsedBytes))
		r.volumeFreeBytes.With(labels).Set(float64(v.FreeBytes))
		setOrDelete(r.volumeTimeToFull, labels, v.TimeToFullSeconds, v.TimeToFullSeconds > 0)
		setOrDelete(r.volumeInodesTotal, labels, float64(v.InodesTotal), v.InodesTotal > 0)
		setOrDelete(r.volumeInodesFree, labels, float64(v.InodesFree), v.InodesTotal > 0)
	}
	for v, state := range previous.volumes {
		if _, kept := current.volumes[v]; !kept {
			r.deleteVolume(namespace, cluster, v, state)
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

// SetConditions records the policy's conditions (type: status is True);
// conditions not in this call lose their series.
func (r *Recorder) SetConditions(namespace, cluster string, conditions map[string]bool) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := clusterKey{namespace, cluster}
	reported := r.reported[key]
	for condition := range reported.conditions {
		if _, kept := conditions[condition]; !kept {
			r.policyCondition.DeleteLabelValues(namespace, cluster, condition)
		}
	}
	reported.conditions = map[string]bool{}
	for condition, isTrue := range conditions {
		reported.conditions[condition] = true
		value := 0.0
		if isTrue {
			value = 1
		}
		r.policyCondition.WithLabelValues(namespace, cluster, condition).Set(value)
	}
	r.reported[key] = reported
}

// SetWALCause records what is wrong with the primary's WAL health; "" when
// nothing is.
func (r *Recorder) SetWALCause(namespace, cluster, cause string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := clusterKey{namespace, cluster}
	reported := r.reported[key]
	if reported.walCause != "" && reported.walCause != cause {
		r.walUnsafe.DeleteLabelValues(namespace, cluster, reported.walCause)
	}
	if cause != "" {
		r.walUnsafe.WithLabelValues(namespace, cluster, cause).Set(1)
	}
	reported.walCause = cause
	r.reported[key] = reported
}

func setOrDelete(vec *prometheus.GaugeVec, labels prometheus.Labels, value float64, set bool) {
	if set {
		vec.With(labels).Set(value)
	} else {
		vec.Delete(labels)
	}
}

// ForgetCluster deletes every series of a cluster whose policy is gone.
func (r *Recorder) ForgetCluster(namespace, cluster string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	match := prometheus.Labels{LabelNamespace: namespace, LabelCluster: cluster}
	for _, vec := range []*prometheus.GaugeVec{
		r.volumeCapacityBytes, r.volumeRequestedBytes, r.volumeLimitBytes, r.volumeUsedBytes, r.volumeFreeBytes, r.volumeTimeToFull, r.blocked, r.budgetRemaining,
		r.volumeState, r.volumeCriticalRatio, r.volumeInodesTotal, r.volumeInodesFree, r.policyCondition, r.walUnsafe,
	} {
		vec.DeletePartialMatch(match)
	}
	delete(r.reported, clusterKey{namespace, cluster})
}

func (r *Recorder) deleteVolume(namespace, cluster string, v Volume, state volumeState) {
	labels := v.labels(namespace, cluster)
	for _, vec := range []*prometheus.GaugeVec{
		r.volumeCapacityBytes, r.volumeRequestedBytes, r.volumeLimitBytes, r.volumeUsedBytes, r.volumeFreeBytes, r.volumeTimeToFull,
		r.volumeCriticalRatio, r.volumeInodesTotal, r.volumeInodesFree,
	} {
		vec.Delete(labels)
	}
	r.volumeState.Delete(v.stateLabels(namespace, cluster, state))
}
