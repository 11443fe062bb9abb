package policy

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// indexClusterRef indexes policies by spec.clusterRef.name, so that an event
// on a cluster's object finds its policies without listing them all.
const indexClusterRef = "spec.clusterRef.name"

// indexObservationCluster indexes observations by spec.cluster, so that a
// reconcile reads its cluster's observations, not its namespace's.
const indexObservationCluster = "spec.cluster"

// IndexFields registers the cache indexes the reconciler reads through.
// SetupWithManager calls it; a manager built for the reconciler alone
// (benchmarks) calls it before starting.
func IndexFields(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &v1alpha1.StorageAutoscalePolicy{}, indexClusterRef, clusterRefOf); err != nil {
		return fmt.Errorf("index policies by %s: %w", indexClusterRef, err)
	}
	if err := indexer.IndexField(ctx, &v1alpha1.StorageObservation{}, indexObservationCluster, observedClusterOf); err != nil {
		return fmt.Errorf("index observations by %s: %w", indexObservationCluster, err)
	}
	for _, object := range []client.Object{&corev1.PersistentVolumeClaim{}, &corev1.Pod{}} {
		if err := indexer.IndexField(ctx, object, indexClusterLabel, clusterLabelOf); err != nil {
			return fmt.Errorf("index %T by label %s: %w", object, labelCluster, err)
		}
	}
	return nil
}

// indexClusterLabel indexes CNPG PVCs and pods by their cnpg.io/cluster
// label: a label selector alone scans the whole namespace's objects.
const indexClusterLabel = "metadata.labels.cnpg.io/cluster"

func clusterLabelOf(object client.Object) []string {
	if cluster := object.GetLabels()[labelCluster]; cluster != "" {
		return []string{cluster}
	}
	return nil
}

func observedClusterOf(object client.Object) []string {
	observation, ok := object.(*v1alpha1.StorageObservation)
	if !ok || observation.Spec.Cluster == "" {
		return nil
	}
	return []string{observation.Spec.Cluster}
}

func clusterRefOf(object client.Object) []string {
	policy, ok := object.(*v1alpha1.StorageAutoscalePolicy)
	if !ok || policy.Spec.ClusterRef.Name == "" {
		return nil
	}
	return []string{policy.Spec.ClusterRef.Name}
}

// policiesOfCluster maps an event on a cluster's object to the policies of
// that cluster (normally one; two when they conflict).
func (r *Reconciler) policiesOfCluster(ctx context.Context, namespace, cluster string) []reconcile.Request {
	if cluster == "" {
		return nil
	}
	var policies v1alpha1.StorageAutoscalePolicyList
	if err := r.Client.List(ctx, &policies, client.InNamespace(namespace), client.MatchingFields{indexClusterRef: cluster}); err != nil {
		logf.FromContext(ctx).Error(err, "map event to policies", "namespace", namespace, "cluster", cluster)
		return nil
	}
	requests := make([]reconcile.Request, 0, len(policies.Items))
	for _, policy := range policies.Items {
		requests = append(requests, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: policy.Namespace, Name: policy.Name}})
	}
	return requests
}

// byClusterName maps a CNPG Cluster to its policies.
func (r *Reconciler) byClusterName(ctx context.Context, object client.Object) []reconcile.Request {
	return r.policiesOfCluster(ctx, object.GetNamespace(), object.GetName())
}

// byClusterLabel maps PVCs and pods, which CNPG labels with cnpg.io/cluster.
func (r *Reconciler) byClusterLabel(ctx context.Context, object client.Object) []reconcile.Request {
	return r.policiesOfCluster(ctx, object.GetNamespace(), object.GetLabels()[labelCluster])
}

// byObservation maps an observation by its spec.cluster (the label is a
// convenience the sidecar adds; the spec is its identity).
func (r *Reconciler) byObservation(ctx context.Context, object client.Object) []reconcile.Request {
	cluster := object.GetLabels()[labelCluster]
	if observation, ok := object.(*v1alpha1.StorageObservation); ok && observation.Spec.Cluster != "" {
		cluster = observation.Spec.Cluster
	}
	return r.policiesOfCluster(ctx, object.GetNamespace(), cluster)
}

// inNamespace maps a ResourceQuota to every policy of its namespace.
func (r *Reconciler) inNamespace(ctx context.Context, object client.Object) []reconcile.Request {
	return r.allPolicies(ctx, client.InNamespace(object.GetNamespace()))
}

// everywhere maps a StorageClass, which any namespace may use, to every policy.
func (r *Reconciler) everywhere(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.allPolicies(ctx)
}

func (r *Reconciler) allPolicies(ctx context.Context, options ...client.ListOption) []reconcile.Request {
	var policies v1alpha1.StorageAutoscalePolicyList
	if err := r.Client.List(ctx, &policies, options...); err != nil {
		logf.FromContext(ctx).Error(err, "map event to policies")
		return nil
	}
	requests := make([]reconcile.Request, 0, len(policies.Items))
	for _, policy := range policies.Items {
		requests = append(requests, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: policy.Namespace, Name: policy.Name}})
	}
	return requests
}
