package testenv

import (
	"context"
	"fmt"

	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Manager is a controller-runtime manager running against the test API
// server, as cmd/controller runs one against a cluster.
type Manager struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// StartManager creates a manager with the env's scheme and no metrics or
// probe listeners, lets setup add to it (the package's Setup), and starts
// it. Controller names may repeat: a suite may start more than one manager
// in a process. Stop stops it; Env.Stop stops whatever is still running.
func (e *Env) StartManager(setup func(manager.Manager) error) (*Manager, error) {
	mgr, err := ctrl.NewManager(e.Config, ctrl.Options{
		Scheme:                 e.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	if err := setup(mgr); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		m.err = mgr.Start(ctx)
	}()
	e.managers = append(e.managers, m)
	return m, nil
}

// Stop stops the manager and waits until it has stopped; it returns what
// the manager returned. Stopping twice is harmless.
func (m *Manager) Stop() error {
	m.cancel()
	<-m.done
	return m.err
}

// Stopped reports whether the manager has stopped by itself, and why.
func (m *Manager) Stopped() (bool, error) {
	select {
	case <-m.done:
		return true, m.err
	default:
		return false, nil
	}
}
