package admission

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// caName is the subject of the rotator's CA; MergeCABundle keeps only
// earlier CAs of that name.
const caName = "cnpg-storage-autoscaler-ca"

// PreviousCAGrace is how long a replaced CA stays in caBundle after its
// successor was minted (at most until it expires): far longer than kubelet
// takes to bring the new serving certificate to every replica, far shorter
// than a CA's life, so a CA replaced on purpose stops being trusted soon.
const PreviousCAGrace = 7 * 24 * time.Hour

// MergeCABundle is the caBundle for the webhook configurations: the CA of
// the Secret (ca.crt) first, then the one CA of the current bundle it
// replaced, while that is unexpired and its successor younger than
// PreviousCAGrace.
//
// The rotator renews the CA and the serving certificate in one Secret
// update, and each replica serves the new certificate only once kubelet has
// brought it. A bundle of the new CA alone would fail every call to a
// replica still serving the old one; the fail-open pod webhook would then
// skip injections unseen. With both CAs in the bundle, either certificate
// verifies.
func MergeCABundle(secretCA, bundle []byte, now time.Time) []byte {
	current := parseCertificates(secretCA)
	if len(current) == 0 {
		return bundle
	}
	var newest *x509.Certificate
	for _, c := range current {
		if newest == nil || c.NotBefore.After(newest.NotBefore) {
			newest = c
		}
	}
	var previous *x509.Certificate
	if now.Before(newest.NotBefore.Add(PreviousCAGrace)) {
		for _, c := range parseCertificates(bundle) {
			if !c.IsCA || c.Subject.CommonName != caName || !now.Before(c.NotAfter) || contains(current, c) {
				continue
			}
			if previous == nil || c.NotBefore.After(previous.NotBefore) {
				previous = c
			}
		}
	}
	var out bytes.Buffer
	for _, c := range current {
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	if previous != nil {
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: previous.Raw})
	}
	return out.Bytes()
}

func parseCertificates(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

func contains(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, l := range list {
		if l.Equal(c) {
			return true
		}
	}
	return false
}

// caBundleKeeper writes caBundle into both webhook configurations from the
// rotator's Secret through MergeCABundle, on the leader only. The rotator
// itself is given no webhooks: it would write the new CA alone.
type caBundleKeeper struct {
	reader     client.Reader
	writer     client.Writer
	secret     types.NamespacedName
	mutating   string
	validating string
	now        func() time.Time
}

// addCABundleKeeper watches only the Secret and the two configurations, by
// name, with a cache of its own: the manager's would list every Secret of
// the cluster.
func addCABundleKeeper(mgr manager.Manager, o Options) error {
	byName := func(name string) cache.ByObject {
		return cache.ByObject{Field: fields.OneTermEqualSelector("metadata.name", name)}
	}
	secretByName := byName(o.SecretName)
	secretByName.Namespaces = map[string]cache.Config{o.SecretNamespace: {}}
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(),
		Mapper: mgr.GetRESTMapper(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: secretByName,
			&admissionregistrationv1.MutatingWebhookConfiguration{}:   byName(o.MutatingWebhookName),
			&admissionregistrationv1.ValidatingWebhookConfiguration{}: byName(o.ValidatingWebhookName),
		},
	})
	if err != nil {
		return fmt.Errorf("caBundle cache: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return fmt.Errorf("add caBundle cache: %w", err)
	}
	k := &caBundleKeeper{
		reader: c, writer: mgr.GetClient(), secret: types.NamespacedName{Namespace: o.SecretNamespace, Name: o.SecretName},
		mutating: o.MutatingWebhookName, validating: o.ValidatingWebhookName, now: time.Now,
	}
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: k.secret}}
	})
	err = ctrl.NewControllerManagedBy(mgr).
		Named(o.rotatorName + "-cabundle").
		WatchesRawSource(source.Kind(c, client.Object(&corev1.Secret{}), one)).
		WatchesRawSource(source.Kind(c, client.Object(&admissionregistrationv1.MutatingWebhookConfiguration{}), one)).
		WatchesRawSource(source.Kind(c, client.Object(&admissionregistrationv1.ValidatingWebhookConfiguration{}), one)).
		Complete(k)
	if err != nil {
		return fmt.Errorf("set up the caBundle keeper: %w", err)
	}
	return nil
}

func (k *caBundleKeeper) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	secret := &corev1.Secret{}
	if err := k.reader.Get(ctx, k.secret, secret); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	ca := secret.Data["ca.crt"]
	if len(ca) == 0 {
		return reconcile.Result{}, nil // the rotator has not filled it yet
	}
	now := k.now()
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := k.reader.Get(ctx, types.NamespacedName{Name: k.mutating}, mutating); err == nil {
		changed := false
		for i := range mutating.Webhooks {
			changed = setBundle(&mutating.Webhooks[i].ClientConfig, ca, now) || changed
		}
		if changed {
			if err := k.writer.Update(ctx, mutating); err != nil {
				return reconcile.Result{}, fmt.Errorf("write caBundle of MutatingWebhookConfiguration %s: %w", k.mutating, err)
			}
		}
	} else if !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := k.reader.Get(ctx, types.NamespacedName{Name: k.validating}, validating); err == nil {
		changed := false
		for i := range validating.Webhooks {
			changed = setBundle(&validating.Webhooks[i].ClientConfig, ca, now) || changed
		}
		if changed {
			if err := k.writer.Update(ctx, validating); err != nil {
				return reconcile.Result{}, fmt.Errorf("write caBundle of ValidatingWebhookConfiguration %s: %w", k.validating, err)
			}
		}
	} else if !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	// A kept CA leaves the bundle when its grace ends or it expires: look again then.
	return reconcile.Result{RequeueAfter: time.Hour}, nil
}

func setBundle(config *admissionregistrationv1.WebhookClientConfig, ca []byte, now time.Time) bool {
	merged := MergeCABundle(ca, config.CABundle, now)
	if bytes.Equal(merged, config.CABundle) {
		return false
	}
	config.CABundle = merged
	return true
}
