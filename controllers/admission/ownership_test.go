package admission

import (
	"context"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// Real pod-bound ServiceAccount tokens, RBAC granted by the controller's
// reconciler, and the shipped ValidatingAdmissionPolicy: pod A writes its
// own observation and is denied pod B's, and every forgery of its own
// (another instance's name or another pod's UID in spec, issue 19); the
// grant goes with the last policy.
func TestObservationOwnership(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	ns := newNamespace(t, nil)
	shape := clusterShape{}
	must(t, c.Create(ctx, newCluster(ns, "orders", shape)))
	// CNPG creates the instance ServiceAccount, named after the cluster.
	must(t, c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: ns}}))
	podA := instancePod(t, newCluster(ns, "orders", shape))
	must(t, c.Create(ctx, podA))
	podB := instancePod(t, newCluster(ns, "orders", shape))
	podB.Name = "orders-2"
	must(t, c.Create(ctx, podB))
	asPodA := clientWithToken(t, ns, "orders", podA)

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

	policy := newPolicy(ns, "orders", "orders", shape)
	must(t, c.Create(ctx, policy))
	waitFor(t, "the observation writer RoleBinding", func() bool {
		rb := &rbacv1.RoleBinding{}
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ObservationWriterName}, rb) == nil && len(rb.Subjects) == 1
	})
	var own *v1alpha1.StorageObservation
	waitFor(t, "pod A allowed to create its own observation", func() bool {
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
	waitFor(t, "the grant to be revoked", func() bool {
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ObservationWriterName}, &rbacv1.Role{})
		return apierrors.IsNotFound(err)
	})
	own.Status.Error = "after revocation"
	if err := asPodA.Status().Update(ctx, own); !apierrors.IsForbidden(err) {
		t.Errorf("pod A still writes after the last policy went: %v", err)
	}
}

// clientWithToken is a client authenticated as the ServiceAccount with a
// token bound to pod, as kubelet projects it into the pod.
func clientWithToken(t *testing.T, namespace, serviceAccount string, pod *corev1.Pod) client.Client {
	t.Helper()
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(env.Config)
	must(t, err)
	live := getPod(t, namespace, pod.Name)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To[int64](3600),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: live.Name, UID: live.UID},
		},
	}, metav1.CreateOptions{})
	must(t, err)
	cfg := rest.AnonymousClientConfig(env.Config)
	cfg.BearerToken = tr.Status.Token
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	must(t, err)
	// Prove the token carries the pod's name: what the policy reads.
	review, err := kubernetes.NewForConfigOrDie(cfg).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	must(t, err)
	if got := review.Status.UserInfo.Extra["authentication.kubernetes.io/pod-name"]; len(got) != 1 || got[0] != pod.Name {
		t.Fatalf("token of %s carries pod-name %v", pod.Name, got)
	}
	if got := review.Status.UserInfo.Extra["authentication.kubernetes.io/pod-uid"]; len(got) != 1 || got[0] != string(live.UID) {
		t.Fatalf("token of %s (UID %s) carries pod-uid %v", pod.Name, live.UID, got)
	}
	return c
}

// waitFor polls a condition the controller makes true asynchronously; the
// deadline is a failure, never a measurement.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return ok(), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
