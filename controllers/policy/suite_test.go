package policy_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/metrics"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
)

// These scenarios run the real controller (a controller-runtime manager with
// its watches) against a real kube-apiserver and etcd. The test plays the
// parts envtest lacks: the CNPG operator (Cluster status), the sidecar
// (observations), and the external-resizer and kubelet (PVC status).

var (
	env *testenv.Env
	// registry and recorder are shared by every manager of the process:
	// collectors register once.
	registry = prometheus.NewRegistry()
	recorder *metrics.Recorder
)

func TestMain(m *testing.M) {
	// The controller's logs, when a failure needs them: PGSTORAGE_TEST_LOGS=1.
	if os.Getenv("PGSTORAGE_TEST_LOGS") != "" {
		ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	os.Exit(testenv.Main(m, &env, func() (err error) {
		recorder, err = metrics.New(registry)
		return err
	}))
}

// testClock is the clock the tests move.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	// Whole seconds, like metav1.Time, so that times read back compare equal.
	return &testClock{now: time.Now().UTC().Truncate(time.Second)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// controllerHandle is a running manager with the policy controller.
type controllerHandle struct {
	stop func()
	done chan error
}

// startController runs the controller for one namespace until the test ends
// or Stop is called.
func startController(t testing.TB, namespace string, clock policy.Clock, config policy.Config) *controllerHandle {
	t.Helper()
	byObject := policy.CacheByObject()
	manager, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{namespace: {}}, ByObject: byObject},
	})
	if err != nil {
		t.Fatalf("create manager: %v", err)
	}
	if config.ResizeTimeout == 0 {
		config.ResizeTimeout = policy.DefaultResizeTimeout
	}
	if config.QuotaRetryInterval == 0 {
		config.QuotaRetryInterval = policy.DefaultQuotaRetryInterval
	}
	reconciler := &policy.Reconciler{
		Client:    manager.GetClient(),
		APIReader: manager.GetAPIReader(),
		Recorder:  manager.GetEventRecorder("cnpg-storage-autoscaler"),
		Metrics:   recorder,
		Clock:     clock,
		Config:    config,
	}
	// Each test runs a manager of its own: the controller name repeats.
	if err := reconciler.SetupWithManager(manager, controller.Options{SkipNameValidation: ptr.To(true)}); err != nil {
		t.Fatalf("set up controller: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	handle := &controllerHandle{stop: cancel, done: make(chan error, 1)}
	go func() { handle.done <- manager.Start(ctx) }()
	t.Cleanup(handle.Stop)
	return handle
}

// Stop stops the manager and waits until it has stopped.
func (h *controllerHandle) Stop() {
	if h.stop == nil {
		return
	}
	h.stop()
	h.stop = nil
	<-h.done
}
