// Command controller runs the StorageAutoscalePolicy controller and the
// add-on's admission webhooks (DESIGN §6, §7).
//
// It only parses flags and wires the manager; the work is in
// controllers/policy, controllers/admission, controllers/writers and
// controllers/restarts.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
	// Maintenance windows name IANA time zones; the distroless image has no
	// time-zone database of its own.
	_ "time/tzdata"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/admission"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/metrics"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/restarts"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/writers"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/kubescheme"
)

// leaderElectionID names the Lease the replicas compete for.
const leaderElectionID = "cnpg-storage-autoscaler.pgstorage.io"

type options struct {
	metricsAddress          string
	probeAddress            string
	leaderElect             bool
	leaderElectionNamespace string
	resizeTimeout           time.Duration
	quotaRetryInterval      time.Duration
	syncPeriod              time.Duration
	maxConcurrentReconciles int
	// admission holds the webhook, certificate and sidecar flags.
	admission *admission.Options
}

func parseFlags(args []string, output *os.File) (options, *zap.Options, error) {
	flags := flag.NewFlagSet("controller", flag.ContinueOnError)
	flags.SetOutput(output)
	var o options
	flags.StringVar(&o.metricsAddress, "metrics-bind-address", ":8080", "Address the Prometheus /metrics endpoint listens on; \"0\" turns it off.")
	flags.StringVar(&o.probeAddress, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz probes listen on.")
	flags.BoolVar(&o.leaderElect, "leader-elect", true, "Elect a leader so that only one replica reconciles (run two replicas for availability).")
	flags.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader-election Lease; empty: the namespace the controller runs in.")
	flags.DurationVar(&o.resizeTimeout, "resize-timeout", policy.DefaultResizeTimeout, "A growth still in flight this long after the PVC patch is reported as failed (ResizeFailed); 0 turns stuck detection off.")
	flags.DurationVar(&o.quotaRetryInterval, "quota-retry-interval", policy.DefaultQuotaRetryInterval, "After a ResourceQuota refused a growth, wait this long before trying the patch again (a change of the quota retries at once).")
	flags.DurationVar(&o.syncPeriod, "sync-period", 10*time.Hour, "Resync every watched object this often even without changes (a safety net; the controller requeues itself when time alone changes a decision).")
	flags.IntVar(&o.maxConcurrentReconciles, "max-concurrent-reconciles", 4, "Policies reconciled in parallel.")
	o.admission = admission.BindFlags(flags)
	// --kubeconfig is registered by controller-runtime on the default flag set.
	flags.String("kubeconfig", "", "Path to a kubeconfig; empty: in-cluster configuration, else $KUBECONFIG or ~/.kube/config.")
	zapOptions := &zap.Options{}
	zapOptions.BindFlags(flags)
	flags.Usage = func() {
		fmt.Fprintf(output, "Usage: controller [flags]\n\nGrows the PVCs of CloudNativePG clusters that have a StorageAutoscalePolicy.\n\nFlags:\n")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return options{}, nil, err
	}
	if kubeconfig := flags.Lookup("kubeconfig").Value.String(); kubeconfig != "" {
		if err := os.Setenv("KUBECONFIG", kubeconfig); err != nil {
			return options{}, nil, err
		}
	}
	return o, zapOptions, nil
}

func main() {
	o, zapOptions, err := parseFlags(os.Args[1:], os.Stderr)
	if err == flag.ErrHelp {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2)
	}
	log := zap.New(zap.UseFlagOptions(zapOptions))
	ctrl.SetLogger(log)
	if err := run(o, log); err != nil {
		log.Error(err, "controller stopped")
		os.Exit(1)
	}
}

func run(o options, log logr.Logger) error {
	config, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	scheme, err := kubescheme.New()
	if err != nil {
		return err
	}
	manager, err := ctrl.NewManager(config, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: o.metricsAddress},
		HealthProbeBindAddress:  o.probeAddress,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        leaderElectionID,
		LeaderElectionNamespace: o.leaderElectionNamespace,
		// A new leader starts at once when the old one stops cleanly.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cache.Options{SyncPeriod: &o.syncPeriod, ByObject: policy.CacheByObject()},
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	recorder, err := metrics.New(ctrlmetrics.Registry)
	if err != nil {
		return err
	}
	reconciler := &policy.Reconciler{
		Client:    manager.GetClient(),
		APIReader: manager.GetAPIReader(),
		Recorder:  manager.GetEventRecorder("cnpg-storage-autoscaler"),
		Metrics:   recorder,
		Clock:     policy.RealClock{},
		Config: policy.Config{
			ResizeTimeout:      o.resizeTimeout,
			QuotaRetryInterval: o.quotaRetryInterval,
			MissingSidecars:    restarts.SidecarMissing,
		},
	}
	if err := reconciler.SetupWithManager(manager, controller.Options{MaxConcurrentReconciles: o.maxConcurrentReconciles}); err != nil {
		return err
	}

	// Admission brings its own webhook server (every replica serves, leader
	// or not) and the certificate rotator.
	if err := admission.Setup(manager, *o.admission); err != nil {
		return err
	}
	// On the leader: the grant that lets the sidecars write their
	// observations, and the rolling restart of pods the webhook missed.
	if err := writers.Setup(manager); err != nil {
		return err
	}
	if err := restarts.Setup(manager); err != nil {
		return err
	}

	if err := manager.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := manager.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add readiness check: %w", err)
	}
	log.Info("starting", "leaderElect", o.leaderElect, "resizeTimeout", o.resizeTimeout, "syncPeriod", o.syncPeriod)
	return manager.Start(ctrl.SetupSignalHandler())
}
