package admission

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv/cnpgtest"
)

// The serving certificate is renewed by the real rotator while the API
// server keeps calling the webhooks: not one call fails (webhookCalls).
func TestCertificateRotationWithoutAFailedCall(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	calls := newWebhookCalls(t)

	addr := fmt.Sprintf("127.0.0.1:%d", harness.options.WebhookPort)
	bundles := caBundles(ctx, c)
	if len(bundles) != 2 {
		t.Fatalf("caBundle injected into %d webhook configurations, want 2", len(bundles))
	}
	before, err := servedCertificate(addr, bundles[0])
	must(t, err)

	calls.call()

	// Lose the serving certificate: the rotator mints a new one under the
	// same CA, as it does when the old one nears its end.
	secret := &corev1.Secret{}
	must(t, c.Get(ctx, client.ObjectKey{Namespace: testSecretNamespace, Name: harness.options.SecretName}, secret))
	caBefore := secret.Data["ca.crt"]
	delete(secret.Data, "tls.crt")
	delete(secret.Data, "tls.key")
	must(t, c.Update(ctx, secret))

	var after []byte
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		calls.call()
		served, err := servedCertificate(addr, bundles[0])
		if err != nil {
			return false, err
		}
		if !bytes.Equal(served.Raw, before.Raw) {
			after = served.Raw
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the server never switched to the renewed certificate after %d calls: %v", calls.count, err)
	}
	for range 10 {
		calls.call()
	}
	must(t, c.Get(ctx, client.ObjectKeyFromObject(secret), secret))
	if !bytes.Equal(secret.Data["ca.crt"], caBefore) {
		t.Errorf("the CA changed: a serving-certificate renewal must keep it")
	}
	if !bytes.Contains(secret.Data["tls.crt"], []byte("CERTIFICATE")) || len(after) == 0 {
		t.Errorf("no renewed certificate in the Secret")
	}
	for i, b := range caBundles(ctx, c) {
		if !bytes.Equal(b, bundles[i]) {
			t.Errorf("caBundle %d changed during a serving-certificate renewal", i)
		}
	}
	t.Logf("%d webhook calls through the renewal, none failed", calls.count)
}

// The CA is renewed by the real rotator while the API server keeps calling
// the webhooks. The rotator writes the new CA and a serving certificate it
// signed in one Secret update; each replica serves that certificate only once
// kubelet brings it. caBundle must therefore hold the old and the new CA
// across the renewal: the first bundle that trusts the new CA still trusts
// the old one, and not one call fails.
func TestCARenewalKeepsBothCAsInTheBundle(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	calls := newWebhookCalls(t)

	calls.call()

	secret := &corev1.Secret{}
	must(t, c.Get(ctx, client.ObjectKey{Namespace: testSecretNamespace, Name: harness.options.SecretName}, secret))
	oldCA := firstCertificate(t, secret.Data["ca.crt"])
	// Lose the CA: the rotator mints a new one and a serving certificate
	// signed by it, as it does when the CA nears its end.
	delete(secret.Data, "ca.crt")
	delete(secret.Data, "ca.key")
	must(t, c.Update(ctx, secret))

	var newCA *x509.Certificate
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		calls.call()
		if newCA == nil {
			s := &corev1.Secret{}
			must(t, c.Get(ctx, client.ObjectKeyFromObject(secret), s))
			if ca := s.Data["ca.crt"]; len(ca) > 0 && !firstCertificate(t, ca).Equal(oldCA) {
				newCA = firstCertificate(t, ca)
			}
		}
		for i, bundle := range caBundles(ctx, c) {
			held := parseCertificates(bundle)
			if newCA != nil && contains(held, newCA) && !contains(held, oldCA) {
				t.Fatalf("caBundle %d trusts the new CA but no longer the old one, while replicas may still serve the old certificate", i)
			}
			if !contains(held, oldCA) && !contains(held, newCA) {
				t.Fatalf("caBundle %d trusts neither the old nor the new CA", i)
			}
		}
		if newCA == nil {
			return false, nil
		}
		// Done once both bundles hold both CAs and the server serves the new certificate.
		for _, bundle := range caBundles(ctx, c) {
			if held := parseCertificates(bundle); !contains(held, newCA) || !contains(held, oldCA) {
				return false, nil
			}
		}
		served, err := servedCertificate(fmt.Sprintf("127.0.0.1:%d", harness.options.WebhookPort), caBundles(ctx, c)[0])
		if err != nil {
			return false, err
		}
		return served.CheckSignatureFrom(newCA) == nil, nil
	})
	if err != nil {
		t.Fatalf("the CA renewal did not complete after %d calls: %v", calls.count, err)
	}
	for range 10 {
		calls.call()
	}
	t.Logf("%d webhook calls through the CA renewal, none failed", calls.count)
}

func firstCertificate(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	certs := parseCertificates(data)
	if len(certs) == 0 {
		t.Fatalf("no certificate in %q", data)
	}
	return certs[0]
}

// webhookCalls go through both webhooks while a certificate is renewed, in
// a namespace of their own with two clusters: "orders" with a policy,
// "spare" without. Each call creates a pod of orders, which must come back
// with the sidecar (the pod webhook fails open, so a failed call would
// otherwise go unseen), and dry-runs a policy for spare, which must pass
// the validating webhook (which fails closed).
type webhookCalls struct {
	t         *testing.T
	namespace string
	count     int
}

func newWebhookCalls(t *testing.T) *webhookCalls {
	t.Helper()
	ctx := context.Background()
	c := env.Client
	ns := env.NewNamespace(t, nil)
	must(t, c.Create(ctx, cnpgtest.NewCluster(ns, "orders", cnpgtest.Shape{})))
	must(t, c.Create(ctx, cnpgtest.NewCluster(ns, "spare", cnpgtest.Shape{})))
	must(t, c.Create(ctx, cnpgtest.NewPolicy(ns, "orders", "orders", cnpgtest.Shape{})))
	return &webhookCalls{t: t, namespace: ns}
}

// call makes one call through each webhook and fails the test at the first
// that failed.
func (w *webhookCalls) call() {
	t := w.t
	t.Helper()
	ctx := context.Background()
	w.count++
	pod := cnpgtest.InstancePod(t, cnpgtest.NewCluster(w.namespace, "orders", cnpgtest.Shape{}))
	pod.Name = fmt.Sprintf("orders-%d", w.count)
	must(t, env.Client.Create(ctx, pod))
	if !HasSidecar(pod) {
		t.Fatalf("call %d: pod %s admitted without the sidecar: the webhook call failed", w.count, pod.Name)
	}
	if err := env.Client.Create(ctx, cnpgtest.NewPolicy(w.namespace, "spare", "spare", cnpgtest.Shape{}), client.DryRunAll); err != nil {
		t.Fatalf("call %d: policy webhook: %v", w.count, err)
	}
}
