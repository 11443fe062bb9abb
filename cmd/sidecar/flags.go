package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/config"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/pgstats"
)

var errHelp = errors.New("help requested")

// parseFlags reads the configuration from args, falling back to the
// environment variable named in each flag's help, then to the default.
func parseFlags(args []string, getenv func(string) string) (config.Sidecar, slog.Level, error) {
	fs := flag.NewFlagSet("sidecar", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	var (
		s          config.Sidecar
		logLevel   string
		flagVolume []config.Volume
		envErr     error
	)
	str := func(p *string, name, env, def, help string) {
		if v := getenv(env); v != "" {
			def = v
		}
		fs.StringVar(p, name, def, fmt.Sprintf("%s (env %s)", help, env))
	}
	duration := func(p *time.Duration, name, env string, def time.Duration, help string) {
		if v := getenv(env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				envErr = errors.Join(envErr, fmt.Errorf("%s=%q: %w", env, v, err))
			}
			def = d
		}
		fs.DurationVar(p, name, def, fmt.Sprintf("%s (env %s)", help, env))
	}

	str(&s.PodName, "pod-name", "POD_NAME", "", "name of this pod, from the downward API; names the observation")
	str(&s.PodNamespace, "pod-namespace", "POD_NAMESPACE", "", "namespace of this pod, from the downward API")
	str(&s.PodUID, "pod-uid", "POD_UID", "", "UID of this pod, from the downward API; the observation's owner")
	str(&s.Cluster, "cluster", "CLUSTER_NAME", "", "name of the CNPG Cluster this instance belongs to")
	fs.Func("volume", "a PostgreSQL volume to measure, repeatable: "+config.VolumeSyntax+
		" (env PGSTORAGE_VOLUMES: volumes separated by ';' or newlines; --volume replaces it)", func(v string) error {
		vol, err := config.ParseVolume(v)
		if err == nil {
			flagVolume = append(flagVolume, vol)
		}
		return err
	})
	str(&s.SocketDir, "socket-dir", "PGSTORAGE_SOCKET_DIR", "/controller/run", "directory of PostgreSQL's unix socket")
	port := "5432"
	str(&port, "pg-port", "PGSTORAGE_PG_PORT", port, "PostgreSQL port (names the socket file .s.PGSQL.<port>)")
	// The role is not configurable (pgstats always uses cnpg_metrics_exporter):
	// it is the only role CNPG creates for a probe (member of pg_monitor, never
	// a superuser), and a --pg-user option would let a pod template quietly
	// weaken that.
	duration(&s.Interval, "interval", "PGSTORAGE_INTERVAL", 10*time.Second, "how often PostgreSQL is asked (the disks are measured every --disk-interval)")
	duration(&s.FastInterval, "fast-interval", "PGSTORAGE_FAST_INTERVAL", 2*time.Second,
		"how often PostgreSQL is asked while a volume is above 80% used or full within an hour at its fill rate; "+
			"also the spacing of the samples the sustained fill rates are read from, and the least time between two writes of a moving volume that is not full within a minute")
	duration(&s.DiskInterval, "disk-interval", "PGSTORAGE_DISK_INTERVAL", 100*time.Millisecond,
		"how often the disks are measured (statfs) while a volume has less than 6000 MiB free or its latest rate fills it within a minute "+
			"(every --fast-interval otherwise); the latest fill rate reads every measurement")
	duration(&s.Heartbeat, "heartbeat", "PGSTORAGE_HEARTBEAT", 60*time.Second,
		"write the observation at least this often even when nothing changed")
	str(&s.MetricsAddr, "metrics-addr", "PGSTORAGE_METRICS_ADDR", ":9188", "listen address of /metrics and /healthz")
	str(&logLevel, "log-level", "PGSTORAGE_LOG_LEVEL", "info", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: sidecar [flags]\n\n"+
			"Probe sidecar of cnpg-storage-autoscaler: measures the PostgreSQL volumes of this CNPG\n"+
			"instance pod, asks PostgreSQL as %s over its unix socket, serves /metrics\n"+
			"and /healthz, and writes the pod's StorageObservation. Each flag may be given by the\n"+
			"environment variable shown; the flag wins. The API server comes from KUBECONFIG or the\n"+
			"in-cluster service account.\n\nExample volume:\n  --volume name=pgdata,role=data,pvc=orders-1,path=/var/lib/postgresql/data\n\nFlags:\n",
			pgstats.MetricsExporterRole)
		fs.PrintDefaults()
	}

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return s, 0, errHelp
		}
		return s, 0, err
	}
	if fs.NArg() > 0 {
		return s, 0, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if envErr != nil {
		return s, 0, envErr
	}
	s.Volumes = flagVolume
	if len(s.Volumes) == 0 {
		vols, err := config.ParseVolumeList(getenv("PGSTORAGE_VOLUMES"))
		if err != nil {
			return s, 0, fmt.Errorf("PGSTORAGE_VOLUMES: %w", err)
		}
		s.Volumes = vols
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return s, 0, fmt.Errorf("--pg-port %q: %w", port, err)
	}
	s.PGPort = p
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(logLevel))); err != nil {
		return s, 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
	}
	return s, level, s.Validate()
}
