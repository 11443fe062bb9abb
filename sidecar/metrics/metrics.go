// Package metrics exposes what the sidecar measured as Prometheus metrics
// (prefix pgstorage_sidecar_) on a private registry, so two sidecars in one
// test process never share state.
//
// The observation CR is the controller's input; these metrics are for
// dashboards and alerts, which must keep working while the API server is
// unreachable.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// Names of the sidecar's series. The dashboard (deploy/grafana) builds its
// queries from these constants.
const (
	MetricProbeDurationSeconds         = "pgstorage_sidecar_probe_duration_seconds"
	MetricLastProbeSuccessTimestamp    = "pgstorage_sidecar_last_probe_success_timestamp_seconds"
	MetricObservationWritesTotal       = "pgstorage_sidecar_observation_writes_total"
	MetricVolumeCapacityBytes          = "pgstorage_sidecar_volume_capacity_bytes"
	MetricVolumeUsedBytes              = "pgstorage_sidecar_volume_used_bytes"
	MetricVolumeAvailableBytes         = "pgstorage_sidecar_volume_available_bytes"
	MetricVolumeInodesTotal            = "pgstorage_sidecar_volume_inodes_total"
	MetricVolumeInodesFree             = "pgstorage_sidecar_volume_inodes_free"
	MetricVolumeFillRateBytesPerSecond = "pgstorage_sidecar_volume_fill_rate_bytes_per_second"
	MetricPostgresReachable            = "pgstorage_sidecar_postgres_reachable"
	MetricArchiveHealthy               = "pgstorage_sidecar_archive_healthy"
	MetricArchiveFailedCount           = "pgstorage_sidecar_archive_failed_count"
	MetricWALBytes                     = "pgstorage_sidecar_wal_bytes"
	MetricWALSegments                  = "pgstorage_sidecar_wal_segments"
	MetricSlotRetainedBytes            = "pgstorage_sidecar_slot_retained_bytes"
	MetricTablespaceBytes              = "pgstorage_sidecar_tablespace_bytes"
)

// Label names of the sidecar's series. Prometheus adds the target's own
// (namespace, pod, …) when it scrapes them.
const (
	LabelVolume      = "volume"
	LabelRole        = "role"
	LabelPVC         = "pvc"
	LabelOutcome     = "outcome"
	LabelSlot        = "slot"
	LabelSlotType    = "type"
	LabelSlotActive  = "active"
	LabelCNPGManaged = "cnpg_managed"
	LabelTablespace  = "tablespace"
)

var volumeLabels = []string{LabelVolume, LabelRole, LabelPVC}

// Metrics is the sidecar's registry and its collectors.
type Metrics struct {
	registry *prometheus.Registry

	probeDuration    prometheus.Histogram
	lastProbeSuccess prometheus.Gauge
	writes           *prometheus.CounterVec

	capacity, used, available, inodesTotal, inodesFree, fillRate *prometheus.GaugeVec

	postgresReachable, archiveHealthy, archiveFailed prometheus.Gauge
	walBytes, walSegments                            prometheus.Gauge
	slotRetained, tablespaceBytes                    *prometheus.GaugeVec
}

// New registers every collector, plus the Go runtime and process collectors
// that show the sidecar's own footprint.
func New() *Metrics {
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	volumeGauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, volumeLabels)
	}
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		probeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    MetricProbeDurationSeconds,
			Help:    "Wall time of one probe cycle (statfs of every volume and the PostgreSQL queries).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		lastProbeSuccess: gauge(MetricLastProbeSuccessTimestamp, "Unix time of the last probe cycle in which every volume was measured."),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricObservationWritesTotal,
			Help: "Attempts to write the StorageObservation, by outcome (written, failed).",
		}, []string{LabelOutcome}),
		capacity:          volumeGauge(MetricVolumeCapacityBytes, "Filesystem size."),
		used:              volumeGauge(MetricVolumeUsedBytes, "Capacity minus what a non-root writer can still use (reserved blocks count as used)."),
		available:         volumeGauge(MetricVolumeAvailableBytes, "What PostgreSQL can still write (statfs f_bavail)."),
		inodesTotal:       volumeGauge(MetricVolumeInodesTotal, "Inodes of the filesystem."),
		inodesFree:        volumeGauge(MetricVolumeInodesFree, "Free inodes."),
		fillRate:          volumeGauge(MetricVolumeFillRateBytesPerSecond, "Fill rate from the sidecar's own samples; negative when emptying."),
		postgresReachable: gauge(MetricPostgresReachable, "1 when PostgreSQL answered as cnpg_metrics_exporter in the last probe."),
		archiveHealthy:    gauge(MetricArchiveHealthy, "1 when WAL archiving is off or its last attempt succeeded."),
		archiveFailed:     gauge(MetricArchiveFailedCount, "pg_stat_archiver.failed_count."),
		walBytes:          gauge(MetricWALBytes, "Size of pg_wal."),
		walSegments:       gauge(MetricWALSegments, "WAL segment files in pg_wal."),
		slotRetained: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricSlotRetainedBytes, Help: "WAL held back by a replication slot.",
		}, []string{LabelSlot, LabelSlotType, LabelSlotActive, LabelCNPGManaged}),
		tablespaceBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricTablespaceBytes, Help: "pg_tablespace_size of a tablespace.",
		}, []string{LabelTablespace}),
	}
	m.registry.MustRegister(
		m.probeDuration, m.lastProbeSuccess, m.writes,
		m.capacity, m.used, m.available, m.inodesTotal, m.inodesFree, m.fillRate,
		m.postgresReachable, m.archiveHealthy, m.archiveFailed, m.walBytes, m.walSegments,
		m.slotRetained, m.tablespaceBytes,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// ObserveProbe records one cycle's duration and, when every volume was
// measured, its time as the last success.
func (m *Metrics) ObserveProbe(duration time.Duration, volumesOK bool, at time.Time) {
	m.probeDuration.Observe(duration.Seconds())
	if volumesOK {
		m.lastProbeSuccess.Set(float64(at.UnixNano()) / 1e9)
	}
}

// CountWrite counts one write attempt by outcome.
func (m *Metrics) CountWrite(outcome string) { m.writes.WithLabelValues(outcome).Inc() }

// SetStatus mirrors an observation; PostgreSQL's figures only when
// postgresAsked (they are as they were otherwise). Slot and tablespace
// series are rebuilt then: a dropped slot must not linger as a stale
// series. Rebuilding them on every disk measurement, ten a second, would
// only widen the moment a scrape sees none.
func (m *Metrics) SetStatus(s *v1alpha1.StorageObservationStatus, postgresAsked bool) {
	for _, v := range s.Volumes {
		labels := prometheus.Labels{LabelVolume: v.Name, LabelRole: string(v.Role), LabelPVC: v.PVC}
		m.capacity.With(labels).Set(float64(v.CapacityBytes))
		m.used.With(labels).Set(float64(v.UsedBytes))
		m.available.With(labels).Set(float64(v.AvailableBytes))
		m.inodesTotal.With(labels).Set(float64(v.InodesTotal))
		m.inodesFree.With(labels).Set(float64(v.InodesFree))
		m.fillRate.With(labels).Set(float64(v.FillRateBytesPerSecond))
	}
	if !postgresAsked {
		return
	}
	pg := &s.Postgres
	m.postgresReachable.Set(boolValue(pg.Reachable))
	m.slotRetained.Reset()
	m.tablespaceBytes.Reset()
	if !pg.Reachable {
		return
	}
	m.walBytes.Set(float64(pg.WALBytes))
	m.walSegments.Set(float64(pg.WALSegments))
	if a := pg.Archiving; a != nil {
		m.archiveHealthy.Set(boolValue(a.Healthy))
		m.archiveFailed.Set(float64(a.FailedCount))
	}
	for _, slot := range pg.Slots {
		m.slotRetained.WithLabelValues(slot.Name, slot.Type, boolLabel(slot.Active), boolLabel(slot.CNPGManaged)).
			Set(float64(slot.RetainedBytes))
	}
	for _, ts := range pg.Tablespaces {
		m.tablespaceBytes.WithLabelValues(ts.Name).Set(float64(ts.Bytes))
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
