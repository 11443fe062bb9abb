package writers_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/writers"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv/cnpgtest"
)

// Real pod-bound ServiceAccount tokens, RBAC granted by the controller's
// reconciler, and the shipped ValidatingAdmissionPolicy: pod A writes its
// own observation and is denied pod B's, and every forgery of its own
// (another instance's name or another pod's UID in spec, issue 19); the
// grant goes with the last policy.
func TestObservationOwnership(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	ns := env.NewNamespace(t, nil)
	shape := cnpgtest.Shape{}
	must(t, c.Create(ctx, cnpgtest.NewCluster(ns, "orders", shape)))
	// CNPG creates the instance ServiceAccount, named after the cluster.
	must(t, c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: ns}}))
	podA := cnpgtest.InstancePod(t, cnpgtest.NewCluster(ns, "orders", shape))
	must(t, c.Create(ctx, podA))
	podB := cnpgtest.InstancePod(t, cnpgtest.NewCluster(ns, "orders", shape))
	podB.Name = "orders-2"
	must(t, c.Create(ctx, podB))
	asPodA := env.TokenClient(t, ns, "orders", podA)

	// observation is what pod's sidecar writes: its name, its UID.
	observation := func(pod *corev1.Pod) *v1alpha1.StorageObservation {
		return &v1alpha1.StorageObservation{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: ns},
			Spec:       v1alpha1.StorageObservationSpec{Cluster: "orders", Instance: pod.Name, PodUID: string(pod.UID)},
		}
	}
	// Without a policy in the namespace there is no grant.
	if err := asPodA.Create(ctx, observation(podA)); !apierrors.IsForbidden(err) {
		t.Fatalf("pod A wrote an observation without any policy in the namespace: %v", err)
	}

	policy := cnpgtest.NewPolicy(ns, "orders", "orders", shape)
	must(t, c.Create(ctx, policy))
	testenv.WaitFor(t, "the observation writer RoleBinding", func() bool {
		rb := &rbacv1.RoleBinding{}
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: writers.Name}, rb) == nil && len(rb.Subjects) == 1
	})
	var own *v1alpha1.StorageObservation
	testenv.WaitFor(t, "pod A allowed to create its own observation", func() bool {
		own = observation(podA)
		return asPodA.Create(ctx, own) == nil
	})
	own.Status.Error = "status written by pod A"
	must(t, asPodA.Status().Update(ctx, own))

	err := asPodA.Create(ctx, observation(podB))
	if err == nil || !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), "a pod may write only the StorageObservation named after itself: pod orders-1 may not write StorageObservation orders-2") {
		t.Fatalf("pod A creating pod B's observation: %v", err)
	}

	// The attack of issue 19: pod A deletes its own observation (allowed)
	// and re-creates it, under its own name, claiming to be another
	// instance or another pod.
	must(t, asPodA.Delete(ctx, own))
	foreignInstance := observation(podA)
	foreignInstance.Spec.Instance = podB.Name
	foreignUID := observation(podA)
	foreignUID.Spec.PodUID = string(podB.UID)
	for name, forgery := range map[string]struct {
		object *v1alpha1.StorageObservation
		want   string
	}{
		"another instance in spec.instance": {foreignInstance,
			"pod orders-1 may write only an observation whose spec.instance is orders-1, not orders-2"},
		"another pod's UID in spec.podUID": {foreignUID,
			"pod orders-1 (UID " + string(podA.UID) + ") may write only an observation whose spec.podUID is its own, not " + string(podB.UID)},
	} {
		err := asPodA.Create(ctx, forgery.object)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), forgery.want) {
			t.Errorf("pod A creating its observation with %s: %v; want Forbidden saying %q", name, err, forgery.want)
		}
	}

	// An observation under pod A's name written by someone else (an admin,
	// or the one a previous pod of that name left): pod A may not write its
	// status, but may delete it, as its sidecar does before writing its own.
	leftOver := observation(podA)
	leftOver.Spec.PodUID = "uid-of-a-previous-pod"
	must(t, c.Create(ctx, leftOver))
	leftOver.Status.Error = "written by pod A into another pod's observation"
	if err := asPodA.Status().Update(ctx, leftOver); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), "spec.podUID is its own, not uid-of-a-previous-pod") {
		t.Errorf("pod A updated the status of an observation with another pod's UID: %v", err)
	}
	must(t, asPodA.Delete(ctx, leftOver))
	own = observation(podA)
	must(t, asPodA.Create(ctx, own))

	// The controller and humans are not pod-bound: the admin writes B's.
	theirs := observation(podB)
	must(t, c.Create(ctx, theirs))
	theirs.Status.Error = "forged by pod A"
	if err := asPodA.Status().Update(ctx, theirs); !apierrors.IsForbidden(err) {
		t.Errorf("pod A updated pod B's observation status: %v", err)
	}
	if err := asPodA.Delete(ctx, theirs); !apierrors.IsForbidden(err) {
		t.Errorf("pod A deleted pod B's observation: %v", err)
	}

	// The last policy goes: so does the grant.
	must(t, c.Delete(ctx, policy))
	testenv.WaitFor(t, "the grant to be revoked", func() bool {
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: writers.Name}, &rbacv1.Role{})
		return apierrors.IsNotFound(err)
	})
	own.Status.Error = "after revocation"
	if err := asPodA.Status().Update(ctx, own); !apierrors.IsForbidden(err) {
		t.Errorf("pod A still writes after the last policy went: %v", err)
	}
}
