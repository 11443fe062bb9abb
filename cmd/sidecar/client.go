package main

import (
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// apiServerConfig finds the API server as controller-runtime does in a pod:
// KUBECONFIG when set (tests, running outside a cluster), else the in-cluster
// service account. controller-runtime itself is not linked: its client brings
// client-go's full scheme, memory the sidecar does not have (sidecar/report).
func apiServerConfig() (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if os.Getenv(clientcmd.RecommendedConfigPathEnvVar) != "" {
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("find the API server (KUBECONFIG or in-cluster service account): %w", err)
	}
	cfg.UserAgent = "pgstorage-sidecar"
	// Bounded requests: a hung API server must not stall the probe loop.
	cfg.Timeout = 10 * time.Second
	return cfg, nil
}
