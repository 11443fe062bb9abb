package runner

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/decide"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/metrics"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/pgstats"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/report"
)

// Runner ties the parts together; cmd/sidecar builds it.
type Runner struct {
	Volumes  *Volumes
	Postgres *pgstats.Collector
	Reporter *report.Reporter
	Metrics  *metrics.Metrics
	Log      *slog.Logger

	// The disks are measured every DiskInterval while a volume is close
	// to full, every FastInterval otherwise (decide.DiskInterval);
	// PostgreSQL is asked every Interval, or every FastInterval while
	// decide.ProbeInterval says so.
	Interval, FastInterval, DiskInterval time.Duration

	lastCycle    atomic.Int64 // unix nanoseconds of the last finished cycle, for /healthz
	wasReachable *bool
	// postgres is PostgreSQL's last answer, asked at postgresAt; the next
	// ask is due postgresEvery later (decide.PostgresDue).
	postgres      pgstats.Result
	postgresAt    time.Time
	postgresEvery time.Duration
	lastOutcome   report.Outcome
	volumesBuffer []v1alpha1.ObservedVolume
	// tick is the wait Cycle returned last (decide.DiskInterval).
	tick time.Duration
}

// Run probes until ctx ends. It never returns early on an error.
func (r *Runner) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(r.Cycle(ctx, time.Now()))
	}
}

// Cycle is one probe: measure the disks, ask PostgreSQL when that is due,
// report; it returns the wait until the next one, the interval
// decide.DiskInterval picks: the disks are measured that often, PostgreSQL
// at the interval decide.ProbeInterval picks.
func (r *Runner) Cycle(ctx context.Context, now time.Time) time.Duration {
	started := time.Now()
	status, volumesOK, asked := r.measure(ctx, now)
	r.Metrics.ObserveProbe(time.Since(started), volumesOK, now)
	r.Metrics.SetStatus(status, asked)
	r.logPostgresChange(status)

	outcome, reason, err := r.Reporter.Report(ctx, status, now)
	switch outcome {
	case report.Written, report.Failed:
		r.Metrics.CountWrite(string(outcome))
	}
	switch {
	case err != nil && ctx.Err() == nil:
		r.Log.Warn("cannot write the observation; will retry with backoff", "reason", reason, "error", err)
	case outcome == report.Written && r.lastOutcome == report.Failed:
		r.Log.Info("observation written again after failures", "reason", reason)
	case outcome == report.Written:
		r.Log.Debug("observation written", "reason", reason)
	}
	r.lastOutcome = outcome
	r.lastCycle.Store(time.Now().UnixNano())

	every, why := decide.ProbeInterval(status.Volumes, r.Interval, r.FastInterval)
	if why != "" && every != r.postgresEvery {
		r.Log.Debug("asking PostgreSQL every fast interval", "reason", why)
	}
	r.postgresEvery = every
	r.tick = decide.DiskInterval(status.Volumes, r.DiskInterval, r.FastInterval)
	return r.tick
}

// measure says whether every volume was measured and whether PostgreSQL
// was asked this cycle.
func (r *Runner) measure(ctx context.Context, now time.Time) (status *v1alpha1.StorageObservationStatus, volumesOK, asked bool) {
	observedAt := metav1.NewMicroTime(now)
	status = &v1alpha1.StorageObservationStatus{ObservedAt: &observedAt}
	var errs []string
	volumes, err := r.Volumes.Measure(now, r.volumesBuffer)
	r.volumesBuffer = volumes
	// The status keeps its own copy: the reporter remembers what it wrote.
	status.Volumes = append([]v1alpha1.ObservedVolume(nil), volumes...)
	if err != nil {
		errs = append(errs, err.Error())
	}
	if asked = decide.PostgresDue(r.postgresAt, now, r.postgresEvery, max(r.tick, r.DiskInterval)); asked {
		r.postgres, r.postgresAt = r.Postgres.Collect(ctx, now), now
	}
	pg := r.postgres
	status.Postgres, status.Role = pg.Postgres, pg.Role
	if pg.QueryError != "" {
		errs = append(errs, pg.QueryError)
	}
	status.Error = strings.Join(errs, "; ")
	return status, err == nil, asked
}

// logPostgresChange logs only transitions: a crash-looping PostgreSQL must
// not fill the sidecar's log.
func (r *Runner) logPostgresChange(status *v1alpha1.StorageObservationStatus) {
	reachable := status.Postgres.Reachable
	if r.wasReachable != nil && *r.wasReachable == reachable {
		return
	}
	r.wasReachable = &reachable
	if reachable {
		r.Log.Info("PostgreSQL reachable", "role", status.Role)
	} else {
		r.Log.Warn("PostgreSQL not reachable; reporting disk figures only", "reason", status.Postgres.Reason)
	}
}

// Healthy says whether a cycle finished within maxAge of now.
func (r *Runner) Healthy(now time.Time, maxAge time.Duration) bool {
	last := r.lastCycle.Load()
	return last != 0 && now.Sub(time.Unix(0, last)) <= maxAge
}
