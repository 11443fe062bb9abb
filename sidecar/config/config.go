package config

import (
	"fmt"
	"time"
)

// Sidecar is everything the sidecar needs to know; cmd/sidecar fills it from
// flags and environment, the webhook decides the values.
type Sidecar struct {
	PodName, PodNamespace, PodUID string
	Cluster                       string
	Volumes                       []Volume

	// SocketDir and PGPort locate PostgreSQL's unix socket. There is no
	// role setting: pgstats always connects as cnpg_metrics_exporter.
	SocketDir string
	PGPort    int

	Interval, FastInterval, DiskInterval, Heartbeat time.Duration
	MetricsAddr                                     string
}

// Validate names the first missing or impossible setting and its flag.
func (s Sidecar) Validate() error {
	for _, required := range []struct{ value, flag string }{
		{s.PodName, "--pod-name (POD_NAME)"},
		{s.PodNamespace, "--pod-namespace (POD_NAMESPACE)"},
		{s.PodUID, "--pod-uid (POD_UID)"},
		{s.Cluster, "--cluster (CLUSTER_NAME)"},
		{s.SocketDir, "--socket-dir"},
	} {
		if required.value == "" {
			return fmt.Errorf("%s is required", required.flag)
		}
	}
	if err := CheckVolumes(s.Volumes); err != nil {
		return err
	}
	if s.PGPort <= 0 || s.PGPort > 65535 {
		return fmt.Errorf("--pg-port %d is not a TCP port number", s.PGPort)
	}
	if s.FastInterval <= 0 || s.Interval < s.FastInterval {
		return fmt.Errorf("--fast-interval (%s) must be positive and at most --interval (%s)", s.FastInterval, s.Interval)
	}
	if s.DiskInterval <= 0 || s.FastInterval < s.DiskInterval {
		return fmt.Errorf("--disk-interval (%s) must be positive and at most --fast-interval (%s)", s.DiskInterval, s.FastInterval)
	}
	if s.Heartbeat < s.Interval {
		return fmt.Errorf("--heartbeat (%s) must be at least --interval (%s)", s.Heartbeat, s.Interval)
	}
	return nil
}
