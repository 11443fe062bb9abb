package policy

import (
	"context"
	"fmt"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// syncClusterSpec raises the Cluster's spec.storage.size,
// spec.walStorage.size and spec.tablespaces[].storage.size to the size
// every PVC of the role has reached, once its growth is done. It never
// lowers a size, and leaves a role alone while any of its PVCs is still
// growing: CNPG would otherwise try to grow the others itself.
func (r *Reconciler) syncClusterSpec(ctx context.Context, view *clusterView) ([]string, error) {
	raised, changes := clusterSizeRaises(view)
	if len(changes) == 0 {
		return nil, nil
	}
	patch := client.MergeFromWithOptions(view.cluster, client.MergeFromWithOptimisticLock{})
	if err := r.Client.Patch(ctx, raised, patch); err != nil {
		return nil, fmt.Errorf("raise storage sizes of CNPG Cluster %s/%s: %w", view.cluster.Namespace, view.cluster.Name, err)
	}
	logf.FromContext(ctx).Info("CNPG Cluster storage sizes raised to match the grown PVCs", "changes", changes)
	r.recordClusterSyncEvent(view, changes)
	return changes, nil
}

// clusterSizeRaises returns the Cluster with its sizes raised and what changed.
func clusterSizeRaises(view *clusterView) (*cnpgv1.Cluster, []string) {
	settled := settledRoleSizes(view)
	raised := view.cluster.DeepCopy()
	var changes []string
	raise := func(field string, size *string, reached resource.Quantity, ok bool) {
		// No size means a PVC template decides: that is the user's to change.
		if !ok || *size == "" {
			return
		}
		current, err := resource.ParseQuantity(*size)
		if err != nil || current.Cmp(reached) >= 0 {
			return
		}
		changes = append(changes, fmt.Sprintf("%s %s -> %s", field, *size, reached.String()))
		*size = reached.String()
	}
	data, ok := settled[roleKey{role: v1alpha1.RoleData}]
	raise("spec.storage.size", &raised.Spec.StorageConfiguration.Size, data, ok)
	if raised.Spec.WalStorage != nil {
		wal, ok := settled[roleKey{role: v1alpha1.RoleWAL}]
		raise("spec.walStorage.size", &raised.Spec.WalStorage.Size, wal, ok)
	}
	for index := range raised.Spec.Tablespaces {
		tablespace := &raised.Spec.Tablespaces[index]
		size, ok := settled[roleKey{role: v1alpha1.RoleTablespace, tablespace: tablespace.Name}]
		raise(fmt.Sprintf("spec.tablespaces[%s].storage.size", tablespace.Name), &tablespace.Storage.Size, size, ok)
	}
	return raised, changes
}

type roleKey struct {
	role       v1alpha1.VolumeRole
	tablespace string
}

// settledRoleSizes is, per role whose PVCs have all finished growing, the
// smallest capacity among them: the size every instance of the role has.
func settledRoleSizes(view *clusterView) map[roleKey]resource.Quantity {
	sizes := map[roleKey]resource.Quantity{}
	unsettled := map[roleKey]bool{}
	for _, pvc := range view.plan.PVCs {
		key := roleKey{pvc.Role, pvc.Tablespace}
		state := view.resize[pvc.Name]
		if !state.settled() || state.capacity.IsZero() {
			unsettled[key] = true
			continue
		}
		if current, seen := sizes[key]; !seen || state.capacity.Cmp(current) < 0 {
			sizes[key] = state.capacity
		}
	}
	for key := range unsettled {
		delete(sizes, key)
	}
	return sizes
}
