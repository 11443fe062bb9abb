package policy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The default install's controller identity, which deploy/admission/pod-nudge.yaml names.
const (
	controllerNamespace      = "pgstorage-system"
	controllerServiceAccount = "cnpg-storage-autoscaler"
	podNudgePolicyName       = "pgstorage-pod-nudge"
	podNudgeDenied           = "the controller may change only the pgstorage.io/resize-nudge annotation of a pod"
)

// The shipped ValidatingAdmissionPolicy on the real API server, with real
// ServiceAccount tokens: the controller's ServiceAccount, which RBAC lets
// patch pods, may change the nudge annotation and nothing else; another
// ServiceAccount with the same RBAC is not affected.
func TestPodNudgePolicyLetsTheControllerChangeOnlyTheNudgeAnnotation(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	installPodNudgePolicy(t)

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "nudge-vap-"}}
	must(t, c.Create(ctx, ns))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-1", Namespace: ns.Name,
			Labels:      map[string]string{"cnpg.io/cluster": "orders", "cnpg.io/podRole": "instance", "role": "primary"},
			Annotations: map[string]string{"cnpg.io/podSpec": "{}"}},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "postgres", Image: "postgres:15"}}},
	}
	must(t, c.Create(ctx, pod))
	// What the chart grants: pods get and patch (here in the test namespace);
	// and more than it grants (delete, the status subresource), to show the
	// policy still holds if RBAC is ever widened.
	must(t, c.Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-patcher", Namespace: ns.Name},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"pods", "pods/status"}, Verbs: []string{"patch", "delete"}},
		},
	}))
	controller := serviceAccountClient(t, controllerNamespace, controllerServiceAccount, ns.Name)
	someoneElse := serviceAccountClient(t, ns.Name, "someone-else", ns.Name)

	patch := func(as client.Client, body string, options ...client.PatchOption) error {
		target := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: pod.Name}}
		return as.Patch(ctx, target, client.RawPatch(types.MergePatchType, []byte(body)), options...)
	}
	// RBAC and the policy reach the API server's caches a moment after they
	// are created: wait (with dry runs, which change nothing) until the
	// controller may patch pods and the policy denies a label change.
	eventually(t, "the pod-nudge policy denying the controller a label change", func() (bool, string) {
		err := patch(controller, `{"metadata":{"labels":{"role":"replica"}}}`, client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), podNudgeDenied), fmt.Sprint(err)
	})
	live := func() *corev1.Pod {
		got := &corev1.Pod{}
		must(t, c.Get(ctx, client.ObjectKeyFromObject(pod), got))
		return got
	}

	for _, allowed := range []struct{ name, body, want string }{
		{"adding the nudge annotation", `{"metadata":{"annotations":{"pgstorage.io/resize-nudge":"orders-1@12Gi"}}}`, "orders-1@12Gi"},
		{"changing it for the next growth", `{"metadata":{"annotations":{"pgstorage.io/resize-nudge":"orders-1@15Gi"}}}`, "orders-1@15Gi"},
	} {
		if err := patch(controller, allowed.body); err != nil {
			t.Fatalf("the controller %s: %v", allowed.name, err)
		}
		if got := live().Annotations["pgstorage.io/resize-nudge"]; got != allowed.want {
			t.Fatalf("after %s the annotation is %q, want %q", allowed.name, got, allowed.want)
		}
	}
	settled := live()

	for _, denied := range []struct{ name, body, message string }{
		{"changing a label", `{"metadata":{"labels":{"role":"replica"}}}`, "changes its labels"},
		{"adding a label", `{"metadata":{"labels":{"extra":"x"}}}`, "changes its labels"},
		{"removing a label", `{"metadata":{"labels":{"role":null}}}`, "changes its labels"},
		{"changing the nudge together with a label", `{"metadata":{"labels":{"role":"replica"},"annotations":{"pgstorage.io/resize-nudge":"orders-1@20Gi"}}}`, "changes its labels"},
		{"adding another annotation", `{"metadata":{"annotations":{"other":"x"}}}`, "changes other annotations"},
		{"changing another annotation", `{"metadata":{"annotations":{"cnpg.io/podSpec":"{\"x\":1}"}}}`, "changes other annotations"},
		{"removing another annotation", `{"metadata":{"annotations":{"cnpg.io/podSpec":null}}}`, "changes other annotations"},
		{"adding a finalizer", `{"metadata":{"finalizers":["example.com/hold"]}}`, "changes its finalizers or owner references"},
		{"changing the spec", `{"spec":{"containers":[{"name":"postgres","image":"postgres:16"}]}}`, "changes its spec"},
	} {
		err := patch(controller, denied.body)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), podNudgeDenied) || !strings.Contains(err.Error(), denied.message) {
			t.Errorf("the controller %s: %v; want denied by %s: %q", denied.name, err, podNudgePolicyName, denied.message)
		}
	}
	// Only CNPG instance pods: a pod without cnpg.io/podRole=instance may not
	// even be annotated.
	other := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: ns.Name, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
	}
	must(t, c.Create(ctx, other))
	err := controller.Patch(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: other.Name}},
		client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"pgstorage.io/resize-nudge":"x@1Gi"}}}`)))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "it is not a CNPG instance pod") {
		t.Errorf("the controller annotating a pod that is not a CNPG instance: %v; want denied by %s", err, podNudgePolicyName)
	}
	err = controller.Status().Patch(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: pod.Name}},
		client.RawPatch(types.MergePatchType, []byte(`{"status":{"message":"forged"}}`)))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "(subresource status) is not such a change") {
		t.Errorf("the controller patching the pod's status: %v; want denied by %s", err, podNudgePolicyName)
	}
	err = controller.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: pod.Name}})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "DELETE of pod "+ns.Name+"/"+pod.Name+" is not such a change") {
		t.Errorf("the controller deleting the pod: %v; want denied by %s", err, podNudgePolicyName)
	}
	if got := live(); got.ResourceVersion != settled.ResourceVersion {
		t.Errorf("a denied request changed the pod: resourceVersion %s -> %s", settled.ResourceVersion, got.ResourceVersion)
	}

	// Anyone else is not matched: the same RBAC, the same changes, allowed.
	for _, body := range []string{
		`{"metadata":{"labels":{"role":"replica"}}}`,
		`{"metadata":{"annotations":{"other":"x"}}}`,
		`{"spec":{"containers":[{"name":"postgres","image":"postgres:16"}]}}`,
	} {
		if err := patch(someoneElse, body); err != nil {
			t.Errorf("another ServiceAccount was affected by the pod-nudge policy: %s: %v", body, err)
		}
	}
	if got := live(); got.Labels["role"] != "replica" || got.Spec.Containers[0].Image != "postgres:16" {
		t.Errorf("another ServiceAccount's changes did not land: labels %v, image %s", got.Labels, got.Spec.Containers[0].Image)
	}
}

// installPodNudgePolicy creates the policy and binding from
// deploy/admission/pod-nudge.yaml. Whether its CEL compiles is proven by
// the allowed requests: a policy that fails to compile denies everything
// (failurePolicy: Fail). Its type-checking status would need
// kube-controller-manager, which the test control plane does not run.
func installPodNudgePolicy(t *testing.T) {
	t.Helper()
	installAdmissionPolicy(t, "pod-nudge.yaml")
}

// serviceAccountClient is a client authenticated with a real token of the
// ServiceAccount namespace/name (created if missing), bound by a
// RoleBinding to the pod-patcher Role of podNamespace.
func serviceAccountClient(t *testing.T, namespace, name, podNamespace string) client.Client {
	t.Helper()
	createServiceAccount(t, namespace, name)
	must(t, env.Client.Create(context.Background(), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-patcher-" + name, Namespace: podNamespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-patcher"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}},
	}))
	return env.TokenClient(t, namespace, name, nil)
}
