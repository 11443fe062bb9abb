package policy_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
)

// kubectl pgstorage reads the API server directly, by label; the controller
// reads its cache through field indexes. Both must hand the planner the
// same snapshot, or explain would explain another plan than the
// controller's.
func TestSnapshotReadsTheSameWorldFromTheAPIServerAsFromTheCache(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 2, dataGi: 10, walGi: 2, expandable: true})
	// Objects of another cluster in the same namespace, which neither read
	// may take for this cluster's.
	w.createClusterPVC("billing", "billing-1", "billing-1", "PG_DATA", 5)
	w.createPod("billing", "billing-1", "billing-1")
	w.observeAll(50, 30)
	w.createPolicy("orders", `
clusterRef: {name: orders}
volumes:
  data: {limit: 20Gi}
  wal: {limit: 4Gi}
`)
	saved := w.policy("orders")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	informers, err := cache.New(env.Config, cache.Options{
		Scheme:            env.Scheme,
		DefaultNamespaces: map[string]cache.Config{w.namespace: {}},
		ByObject:          policy.CacheByObject(),
	})
	must(t, err)
	must(t, policy.IndexFields(ctx, informers))
	go func() { _ = informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) {
		t.Fatal("cache never synced")
	}

	now := clock.Now()
	read := func(reader client.Reader, indexed bool) string {
		view, err := policy.Snapshot(ctx, reader, saved, now, policy.SnapshotOptions{ResizeTimeout: time.Minute, Indexed: indexed})
		must(t, err)
		// What is decided on; the objects themselves differ in TypeMeta,
		// which the cache fills and the API server's client does not.
		encoded, err := json.Marshal(struct {
			Plan                 any
			ClusterFound         bool
			ConflictWith         string
			RejectedObservations any
			Unexpandable         any
		}{view.Plan, view.Cluster != nil, view.ConflictWith, view.RejectedObservations, view.Unexpandable})
		must(t, err)
		return string(encoded)
	}
	direct := read(env.Client, false)
	eventually(t, "the cache's snapshot equals the API server's", func() (bool, string) {
		cached := read(informers, true)
		return cached == direct, "cache:\n" + cached + "\nAPI server:\n" + direct
	})

	view, err := policy.Snapshot(ctx, env.Client, saved, now, policy.SnapshotOptions{})
	must(t, err)
	if len(view.Plan.PVCs) != 4 || len(view.Plan.Observations) != 2 || view.Cluster == nil || view.ConflictWith != "" {
		t.Errorf("snapshot of orders: %d PVCs, %d observations, cluster %v, conflict %q; want 4, 2, found, none",
			len(view.Plan.PVCs), len(view.Plan.Observations), view.Cluster != nil, view.ConflictWith)
	}
}
