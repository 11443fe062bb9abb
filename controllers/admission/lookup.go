package admission

import (
	"context"
	"fmt"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// PolicyForCluster returns the policy of a cluster, nil when it has none.
// Should two exist (the policy webhook rejects the second, but it can be
// down or bypassed), the oldest wins, as the controller's Conflict
// condition says. The webhooks and controllers/restarts (which policy's
// restartExisting governs a pod) all ask it.
func PolicyForCluster(ctx context.Context, r client.Reader, namespace, cluster string) (*v1alpha1.StorageAutoscalePolicy, error) {
	var list v1alpha1.StorageAutoscalePolicyList
	if err := r.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list StorageAutoscalePolicies in %s: %w", namespace, err)
	}
	var found *v1alpha1.StorageAutoscalePolicy
	for i := range list.Items {
		p := &list.Items[i]
		if p.Spec.ClusterRef.Name != cluster || !p.DeletionTimestamp.IsZero() {
			continue
		}
		if found == nil || p.Governs(found) {
			found = p
		}
	}
	return found, nil
}

// getCluster returns the CNPG Cluster, nil when it does not exist.
func getCluster(ctx context.Context, r client.Reader, namespace, name string) (*cnpgv1.Cluster, error) {
	cluster := &cnpgv1.Cluster{}
	err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cluster)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get CNPG Cluster %s/%s: %w", namespace, name, err)
	}
	return cluster, nil
}
