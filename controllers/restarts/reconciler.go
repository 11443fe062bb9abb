package restarts

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
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/admission"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/cnpgnames"
)

// reconciler acts on DecideRestart for policies with
// spec.injection.restartExisting: it sets CNPG's restart annotation and our
// last-restart annotation on the Cluster in one patch. It writes nothing
// else; the SidecarMissing condition is the policy reconciler's.
type reconciler struct {
	client client.Client
	now    func() time.Time
}

// Setup adds the reconciler (leader only) to the manager.
func Setup(mgr manager.Manager) error {
	r := &reconciler{client: mgr.GetClient(), now: time.Now}
	instancePods := predicate.NewPredicateFuncs(func(o client.Object) bool { return isInstancePod(o.GetLabels()) })
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

func (r *reconciler) policiesOfPod(ctx context.Context, pod client.Object) []reconcile.Request {
	policy, err := admission.PolicyForCluster(ctx, r.client, pod.GetNamespace(), pod.GetLabels()[cnpgnames.ClusterLabel])
	if err != nil || policy == nil {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: policy.Namespace, Name: policy.Name}}}
}

func (r *reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	policy := &v1alpha1.StorageAutoscalePolicy{}
	if err := r.client.Get(ctx, req.NamespacedName, policy); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !policy.Spec.Injection.RestartExisting || !policy.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	cluster := &cnpgv1.Cluster{}
	if err := r.client.Get(ctx, client.ObjectKey{Namespace: policy.Namespace, Name: policy.Spec.ClusterRef.Name}, cluster); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("get CNPG Cluster %s/%s: %w", policy.Namespace, policy.Spec.ClusterRef.Name, err)
	}
	var pods corev1.PodList
	if err := r.client.List(ctx, &pods, client.InNamespace(policy.Namespace), client.MatchingLabels{
		cnpgnames.ClusterLabel: cluster.Name, cnpgnames.PodRoleLabel: cnpgnames.PodRoleInstance,
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
