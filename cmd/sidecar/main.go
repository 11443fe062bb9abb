// Command sidecar is the probe the admission webhook injects into CNPG
// instance pods, as a native sidecar (an init container with
// restartPolicy: Always). It measures the pod's PostgreSQL volumes with
// statfs, asks PostgreSQL about WAL, archiving, replication slots and
// tablespaces, serves Prometheus metrics, and writes the pod's
// StorageObservation for the controller.
//
// # Contract with the webhook
//
// Every setting is a flag, and every flag can also come from the environment
// variable named beside it (the flag wins when both are given):
//
//	--pod-name       POD_NAME              pod name (downward API metadata.name); required
//	--pod-namespace  POD_NAMESPACE         pod namespace (metadata.namespace); required
//	--pod-uid        POD_UID               pod UID (metadata.uid); required
//	--cluster        CLUSTER_NAME          CNPG Cluster name; required
//	--volume         PGSTORAGE_VOLUMES     a PostgreSQL volume, repeatable; required
//	--socket-dir     PGSTORAGE_SOCKET_DIR  PostgreSQL's socket directory (default /controller/run)
//	--pg-port        PGSTORAGE_PG_PORT     PostgreSQL's port, names the socket file (default 5432)
//	--interval       PGSTORAGE_INTERVAL    probe interval (default 10s)
//	--fast-interval  PGSTORAGE_FAST_INTERVAL  PostgreSQL's interval above 80 % used or full within an hour, the fill rates' sample spacing (default 2s)
//	--disk-interval  PGSTORAGE_DISK_INTERVAL  the disks' interval near full (default 100ms)
//	--heartbeat      PGSTORAGE_HEARTBEAT   longest time between two writes (default 60s)
//	--metrics-addr   PGSTORAGE_METRICS_ADDR  address of /metrics and /healthz (default :9188)
//	--log-level      PGSTORAGE_LOG_LEVEL   debug, info, warn or error (default info)
//
// A volume is
//
//	name=<pod volume>,role=data|wal|tablespace,pvc=<claim>,path=<mount path>[,tablespace=<name>]
//
// for example
//
//	--volume name=pgdata,role=data,pvc=orders-1,path=/var/lib/postgresql/data
//	--volume name=pg-wal,role=wal,pvc=orders-1-wal,path=/var/lib/postgresql/wal
//	--volume name=idx,role=tablespace,pvc=orders-1-tbs-idx,path=/var/lib/postgresql/tablespaces/idx,tablespace=idx
//
// In PGSTORAGE_VOLUMES volumes are separated by ';' or newlines. Given
// --volume flags replace the environment list entirely.
//
// The API server is found through KUBECONFIG when set, else the in-cluster
// service account. The sidecar needs get, create, update and
// delete on storageobservations and update on storageobservations/status in
// its namespace (delete only removes an observation left by an earlier pod of
// the same name).
//
// It runs with PostgreSQL's UID, so that peer authentication maps it to the
// cnpg_metrics_exporter role through CNPG's own pg_ident entry; it never
// connects as any other role. It exits within a second of SIGTERM.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/config"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/decide"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/metrics"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/pgstats"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/report"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/runner"
)

func main() {
	settings, logLevel, err := parseFlags(os.Args[1:], os.Getenv)
	if err != nil {
		// flag.ErrHelp: usage was printed, asked for.
		if errors.Is(err, errHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "sidecar:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, settings, log); err != nil {
		log.Error("sidecar stopped", "error", err)
		os.Exit(1)
	}
}

// run wires the parts and blocks until ctx ends. Only a configuration the
// sidecar cannot work with at all is an error; everything at run time is
// retried.
func run(ctx context.Context, s config.Sidecar, log *slog.Logger) error {
	collector, err := pgstats.NewCollector(pgstats.Settings{SocketDir: s.SocketDir, Port: s.PGPort})
	if err != nil {
		return err
	}
	cfg, err := apiServerConfig()
	if err != nil {
		return err
	}
	reporter, err := report.New(cfg, report.Identity{PodName: s.PodName, Namespace: s.PodNamespace, PodUID: s.PodUID, Cluster: s.Cluster}, decide.Cadence{Heartbeat: s.Heartbeat, Moves: s.FastInterval})
	if err != nil {
		return err
	}
	m := metrics.New()
	r := &runner.Runner{
		Volumes:      runner.NewVolumes(s.Volumes, s.FastInterval),
		Postgres:     collector,
		Reporter:     reporter,
		Metrics:      m,
		Log:          log,
		Interval:     s.Interval,
		FastInterval: s.FastInterval,
		DiskInterval: s.DiskInterval,
	}
	server := &http.Server{
		Addr:              s.MetricsAddr,
		Handler:           routes(m, r, s.Interval),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		// A port clash must not take PostgreSQL's volumes out of sight: log it and keep probing.
		if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped; probing goes on", "addr", s.MetricsAddr, "error", err)
		}
	}()
	log.Info("sidecar started", "pod", s.PodNamespace+"/"+s.PodName, "cluster", s.Cluster,
		"volumes", len(s.Volumes), "socket", s.SocketDir, "interval", s.Interval)

	r.Run(ctx)

	// SIGTERM: CNPG pods have a 30-minute grace period, and a lingering
	// sidecar holds the pod, so every step below is bounded well under 1 s.
	shutdown, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_ = server.Shutdown(shutdown)
	log.Info("sidecar stopped on signal")
	return nil
}

func routes(m *metrics.Metrics, r *runner.Runner, interval time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	// Healthy while the loop turns: three intervals, or 30 s (a cycle may
	// wait on slow connects), whichever is longer.
	maxAge := max(3*interval, 30*time.Second)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !r.Healthy(time.Now(), maxAge) {
			http.Error(w, "no probe cycle finished within "+maxAge.String(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}
