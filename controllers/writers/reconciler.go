package writers

import (
	"context"
	"fmt"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// reconciler grants, per namespace, the ServiceAccount of every CNPG
// cluster that has a policy (CNPG names it after the cluster) the sidecar's
// verbs on observations, and takes them back when the last policy of the
// namespace goes. A namespace without policies keeps no grant of ours.
//
// Roles and RoleBindings are read from the API server, not the cache: a
// cache would hold every Role of the cluster for the sake of one per
// namespace with a policy.
type reconciler struct {
	client client.Client
	reader client.Reader
}

// Setup adds the reconciler (leader only) to the manager. The controller's
// ServiceAccount needs create/update/delete on roles and rolebindings, and
// itself the rules it grants (RBAC's escalation check).
func Setup(mgr manager.Manager) error {
	byNamespace := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.GetNamespace()}}}
	})
	err := ctrl.NewControllerManagedBy(mgr).
		Named("observation-rbac").
		Watches(&v1alpha1.StorageAutoscalePolicy{}, byNamespace).
		Complete(&reconciler{client: mgr.GetClient(), reader: mgr.GetAPIReader()})
	if err != nil {
		return fmt.Errorf("set up the observation RBAC reconciler: %w", err)
	}
	return nil
}

// Reconcile gets a namespace's name as the request's Name.
func (r *reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	namespace := req.Name
	var policies v1alpha1.StorageAutoscalePolicyList
	if err := r.client.List(ctx, &policies, client.InNamespace(namespace)); err != nil {
		return reconcile.Result{}, fmt.Errorf("list policies in %s: %w", namespace, err)
	}
	accounts := map[string]bool{}
	for _, p := range policies.Items {
		if p.DeletionTimestamp.IsZero() && p.Spec.ClusterRef.Name != "" {
			accounts[p.Spec.ClusterRef.Name] = true
		}
	}
	key := metav1.ObjectMeta{Name: Name, Namespace: namespace}
	if len(accounts) == 0 {
		for _, obj := range []client.Object{&rbacv1.RoleBinding{ObjectMeta: key}, &rbacv1.Role{ObjectMeta: key}} {
			if err := r.client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
				return reconcile.Result{}, fmt.Errorf("revoke observation writing in %s: %w", namespace, err)
			}
		}
		return reconcile.Result{}, nil
	}
	names := make([]string, 0, len(accounts))
	for name := range accounts {
		names = append(names, name)
	}
	sort.Strings(names)
	role := &rbacv1.Role{ObjectMeta: key, Rules: Rules()}
	if err := r.ensure(ctx, role, &rbacv1.Role{}, func(live client.Object) bool {
		l := live.(*rbacv1.Role)
		if equality.Semantic.DeepEqual(l.Rules, role.Rules) {
			return false
		}
		l.Rules = role.Rules
		return true
	}); err != nil {
		return reconcile.Result{}, fmt.Errorf("grant observation writing in %s (Role): %w", namespace, err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: key,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: Name},
	}
	for _, name := range names {
		binding.Subjects = append(binding.Subjects, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace})
	}
	if err := r.ensure(ctx, binding, &rbacv1.RoleBinding{}, func(live client.Object) bool {
		l := live.(*rbacv1.RoleBinding)
		if equality.Semantic.DeepEqual(l.Subjects, binding.Subjects) {
			return false
		}
		l.Subjects = binding.Subjects
		return true
	}); err != nil {
		return reconcile.Result{}, fmt.Errorf("grant observation writing in %s (RoleBinding): %w", namespace, err)
	}
	return reconcile.Result{}, nil
}

// ensure creates want, or updates the live object when update changes it.
func (r *reconciler) ensure(ctx context.Context, want, live client.Object, update func(live client.Object) bool) error {
	setManagedBy(want)
	err := r.reader.Get(ctx, client.ObjectKeyFromObject(want), live)
	if apierrors.IsNotFound(err) {
		return r.client.Create(ctx, want)
	}
	if err != nil {
		return err
	}
	if update(live) {
		return r.client.Update(ctx, live)
	}
	return nil
}

func setManagedBy(o client.Object) {
	labels := o.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[managedByLabel] = managedByValue
	o.SetLabels(labels)
}
