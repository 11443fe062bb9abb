package admission

import (
	"context"
	"fmt"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// sidecarRestarts acts on DecideRestart for policies with
// spec.injection.restartExisting: it sets CNPG's restart annotation and our
// last-restart annotation on the Cluster in one patch. It writes nothing
// else; the SidecarMissing condition is the policy reconciler's.
type sidecarRestarts struct {
	client client.Client
	now    func() time.Time
}

// SetupSidecarRestarts adds the reconciler (leader only) to the manager.
func SetupSidecarRestarts(mgr manager.Manager) error {
	return setupSidecarRestarts(mgr, time.Now)
}

func setupSidecarRestarts(mgr manager.Manager, now func() time.Time) error {
	r := &sidecarRestarts{client: mgr.GetClient(), now: now}
	instancePods := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetLabels()[instanceRoleLabel] == instanceRoleLabelValue
	})
	err := ctrl.NewControllerManagedBy(mgr).
		Named("sidecar-restarts").
		For(&v1alpha1.StorageAutoscalePolicy{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.policiesOfPod), builder.WithPredicates(instancePods)).
		Complete(r)
	if err != nil {
		return fmt.Errorf("set up the sidecar restart reconciler: %w", err)
	}
	return nil
}

func (r *sidecarRestarts) policiesOfPod(ctx context.Context, pod client.Object) []reconcile.Request {
	policy, err := policyForCluster(ctx, r.client, pod.GetNamespace(), pod.GetLabels()[clusterLabel])
	if err != nil || policy == nil {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: policy.Namespace, Name: policy.Name}}}
}

func (r *sidecarRestarts) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	policy := &v1alpha1.StorageAutoscalePolicy{}
	if err := r.client.Get(ctx, req.NamespacedName, policy); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !policy.Spec.Injection.RestartExisting || !policy.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	cluster, err := getCluster(ctx, r.client, policy.Namespace, policy.Spec.ClusterRef.Name)
	if err != nil || cluster == nil {
		return reconcile.Result{}, err
	}
	var pods corev1.PodList
	if err := r.client.List(ctx, &pods, client.InNamespace(policy.Namespace), client.MatchingLabels{
		clusterLabel: cluster.Name, instanceRoleLabel: instanceRoleLabelValue,
	}); err != nil {
		return reconcile.Result{}, fmt.Errorf("list instance pods of cluster %s: %w", cluster.Name, err)
	}
	now := r.now()
	d := DecideRestart(true, cluster, pods.Items, lastRestart(cluster), now)
	if !d.Restart {
		log.V(1).Info("no rolling restart", "cluster", cluster.Name, "reason", d.Reason)
		return reconcile.Result{RequeueAfter: d.RetryAfter}, nil
	}
	base := cluster.DeepCopy()
	if cluster.Annotations == nil {
		cluster.Annotations = map[string]string{}
	}
	stamp := now.UTC().Format(time.RFC3339)
	cluster.Annotations[ClusterRestartAnnotation] = stamp
	cluster.Annotations[LastRestartAnnotation] = stamp
	// The optimistic lock makes two replicas (or a stale cache) unable to
	// restart twice: the second patch conflicts and re-reads the annotation.
	if err := r.client.Patch(ctx, cluster, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: time.Second}, nil
		}
		return reconcile.Result{}, fmt.Errorf("ask CNPG to restart cluster %s: %w", cluster.Name, err)
	}
	log.Info("asked CNPG for a rolling restart", "cluster", cluster.Name, "reason", d.Reason)
	return reconcile.Result{RequeueAfter: RestartInterval}, nil
}

func lastRestart(cluster *cnpgv1.Cluster) time.Time {
	t, err := time.Parse(time.RFC3339, cluster.Annotations[LastRestartAnnotation])
	if err != nil {
		return time.Time{}
	}
	return t
}
