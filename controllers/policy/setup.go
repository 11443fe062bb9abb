package policy

import (
	"context"
	"fmt"
	"maps"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// CacheByObject narrows the manager's cache to what the controller reads:
// only CNPG instance pods and CNPG PVCs, not every pod and PVC of the
// cluster, which would cost memory in proportion to the whole cluster.
func CacheByObject() map[client.Object]cache.ByObject {
	instancePods := labels.SelectorFromSet(labels.Set{labelPodRole: podRoleInstance})
	cnpgPVC, err := labels.NewRequirement(labelPVCRole, selection.Exists, nil)
	if err != nil {
		panic(fmt.Sprintf("label requirement %s: %v", labelPVCRole, err)) // a constant: cannot fail
	}
	return map[client.Object]cache.ByObject{
		&corev1.Pod{}:                   {Label: instancePods},
		&corev1.PersistentVolumeClaim{}: {Label: labels.NewSelector().Add(*cnpgPVC)},
	}
}

// SetupWithManager registers the index and the watches. Every watched
// object maps to the policy of its cluster.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, options controller.Options) error {
	if r.Clock == nil {
		r.Clock = RealClock{}
	}
	if err := IndexFields(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("storageautoscalepolicy").
		WithOptions(options).
		// Status writes (ours) do not bump the generation: they must not
		// start another reconcile.
		For(&v1alpha1.StorageAutoscalePolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&cnpgv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(r.byClusterName),
			builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, primaryChanged()))).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(r.byClusterLabel),
			builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.byClusterLabel),
			builder.WithPredicates(podMembershipChanged())).
		Watches(&v1alpha1.StorageObservation{}, handler.EnqueueRequestsFromMapFunc(r.byObservation)).
		Watches(&storagev1.StorageClass{}, handler.EnqueueRequestsFromMapFunc(r.everywhere)).
		Watches(&corev1.ResourceQuota{}, handler.EnqueueRequestsFromMapFunc(r.inNamespace)).
		Complete(r)
}

// primaryChanged passes Cluster updates that move the primary (a status
// change, which the generation does not see).
func primaryChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		before, okBefore := e.ObjectOld.(*cnpgv1.Cluster)
		after, okAfter := e.ObjectNew.(*cnpgv1.Cluster)
		return okBefore && okAfter && before.Status.CurrentPrimary != after.Status.CurrentPrimary
	}}
}

// podMembershipChanged passes pods coming and going and label changes;
// the controller reads no other pod field, and instance pods' status churn
// would otherwise reconcile for nothing.
func podMembershipChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
	}}
}
