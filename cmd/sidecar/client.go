package main

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// newClient knows only StorageObservation. The REST mapping is static: a
// discovery round trip at start would be one more thing to fail while the
// API server is away, and discovery caches cost memory the sidecar does not have.
func newClient() (client.Client, error) {
	cfg, err := ctrlconfig.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("find the API server (KUBECONFIG or in-cluster service account): %w", err)
	}
	cfg.UserAgent = "pgstorage-sidecar"
	// Bounded requests: a hung API server must not stall the probe loop.
	cfg.Timeout = 10 * time.Second
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("register StorageObservation: %w", err)
	}
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(v1alpha1.GroupVersion.WithKind("StorageObservation"), meta.RESTScopeNamespace)
	c, err := client.New(cfg, client.Options{Scheme: scheme, Mapper: mapper})
	if err != nil {
		return nil, fmt.Errorf("client for the API server: %w", err)
	}
	return c, nil
}
