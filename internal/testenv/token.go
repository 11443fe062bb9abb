package testenv

import (
	"context"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TokenClient is a client authenticated with a real token of the
// ServiceAccount namespace/name: bound to pod (a created one, with its UID)
// as kubelet projects it into the pod's containers, or unbound when pod is
// nil. It proves with a SelfSubjectReview whom the API server takes the
// token for (the user, and for a bound token the pod's name and UID), which
// is what RBAC and the admission policies match.
func (e *Env) TokenClient(t *testing.T, namespace, name string, pod *corev1.Pod) client.Client {
	t.Helper()
	ctx := context.Background()
	request := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if pod != nil {
		if pod.UID == "" {
			t.Fatalf("a token bound to pod %s needs its UID: pass the pod as created", pod.Name)
		}
		request.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
	}
	token, err := kubernetes.NewForConfigOrDie(e.Config).CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, request, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token of ServiceAccount %s/%s: %v", namespace, name, err)
	}
	config := rest.AnonymousClientConfig(e.Config)
	config.BearerToken = token.Status.Token
	review, err := kubernetes.NewForConfigOrDie(config).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("review the token of %s/%s: %v", namespace, name, err)
	}
	user := review.Status.UserInfo
	if want := "system:serviceaccount:" + namespace + ":" + name; user.Username != want {
		t.Fatalf("token authenticates as %q, want %q", user.Username, want)
	}
	if pod != nil {
		if got := user.Extra["authentication.kubernetes.io/pod-name"]; len(got) != 1 || got[0] != pod.Name {
			t.Fatalf("token bound to %s carries pod-name %v", pod.Name, got)
		}
		if got := user.Extra["authentication.kubernetes.io/pod-uid"]; len(got) != 1 || got[0] != string(pod.UID) {
			t.Fatalf("token bound to %s (UID %s) carries pod-uid %v", pod.Name, pod.UID, got)
		}
	}
	out, err := client.New(config, client.Options{Scheme: e.Scheme})
	if err != nil {
		t.Fatalf("client for the token of %s/%s: %v", namespace, name, err)
	}
	return out
}
