package admission

import (
	"context"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Setup adds everything admission needs to the manager: the certificate
// rotator (unless cert-manager does it) and the webhook server with its
// three handlers. Call it before mgr.Start. The manager must not also serve
// webhooks of its own (leave manager.Options.WebhookServer unset and do not
// call mgr.GetWebhookServer): this package brings its own server, which
// starts only once the certificate files exist.
func Setup(mgr manager.Manager, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	log := ctrl.Log.WithName("admission")
	if !o.CertManager {
		if err := addRotator(mgr, o); err != nil {
			return err
		}
	}
	server := webhook.NewServer(webhook.Options{Host: o.WebhookHost, Port: o.WebhookPort, CertDir: o.CertDir})
	decoder := admission.NewDecoder(mgr.GetScheme())
	// The webhooks read from the API server, not the cache: a policy created
	// a moment before CNPG's pod must be seen, and pods and PVCs are created
	// rarely enough for one LIST of the namespace's policies each.
	server.Register(PodWebhookPath, &admission.Webhook{Handler: &podInjector{
		reader: mgr.GetAPIReader(), decoder: decoder, config: o.Sidecar, budget: o.HandlerBudget, log: log.WithName("pod"),
	}})
	server.Register(PVCWebhookPath, &admission.Webhook{Handler: &pvcSizer{
		reader: mgr.GetAPIReader(), decoder: decoder, budget: o.HandlerBudget, log: log.WithName("pvc"),
	}})
	server.Register(PolicyWebhookPath, &admission.Webhook{Handler: &policyValidator{
		reader: mgr.GetAPIReader(), decoder: decoder, budget: o.HandlerBudget,
	}})
	if err := mgr.Add(&servingGate{server: server, certDir: o.CertDir}); err != nil {
		return fmt.Errorf("add webhook server: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook-server", server.StartedChecker()); err != nil {
		return fmt.Errorf("add webhook readiness check: %w", err)
	}
	return nil
}

// addRotator runs open-policy-agent/cert-controller on the leader only
// (RequireLeaderElection): one writer for the Secret and the caBundles, no
// two replicas racing to mint different CAs. Every replica, leader or not,
// serves from the mounted Secret through servingGate, so serving never
// depends on being the leader. The rotator is also never asked to restart
// the process: the webhook server reloads the files itself.
//
// Rotation without a failed call: the serving certificate is renewed 90
// days before it expires, under the same CA, so the API server accepts the
// old and the new one alike while kubelet brings the new files to each
// replica. The CA (10 years) is renewed with the same lookahead, in the same
// Secret update as a serving certificate it signed; the rotator would then
// put the new CA alone into caBundle, failing every call to a replica that
// still serves the old certificate. So the rotator is given no webhooks, and
// caBundleKeeper writes caBundle instead: the new CA and the old one, until
// every replica has long had the new certificate (MergeCABundle).
func addRotator(mgr manager.Manager, o Options) error {
	dnsName, extra := o.certDNSNames()
	r := &rotator.CertRotator{
		SecretKey:             types.NamespacedName{Namespace: o.SecretNamespace, Name: o.SecretName},
		CertDir:               o.CertDir,
		CAName:                caName,
		CAOrganization:        "pgstorage.io",
		DNSName:               dnsName,
		ExtraDNSNames:         extra,
		IsReady:               make(chan struct{}),
		FieldOwner:            "cnpg-storage-autoscaler-cert-rotator",
		RequireLeaderElection: true,
		ServerCertDuration:    o.ServerCertDuration,
		ControllerName:        o.rotatorName,
	}
	if o.ServerCertDuration > 0 {
		// Renew with a quarter of the lifetime left, as the default (90 days
		// of a year) does.
		r.LookaheadInterval = o.ServerCertDuration / 4
		r.RotationCheckFrequency = o.ServerCertDuration / 20
	}
	if err := rotator.AddRotator(mgr, r); err != nil {
		return fmt.Errorf("add webhook certificate rotator for Secret %s/%s: %w", o.SecretNamespace, o.SecretName, err)
	}
	return addCABundleKeeper(mgr, o)
}

// servingGate starts the webhook server once CertDir holds a usable key
// pair, on every replica. controller-runtime's server would fail at start
// while the Secret is still empty (first install), taking the manager down;
// waiting here lets the leader's rotator fill it and kubelet mount it.
type servingGate struct {
	server  webhook.Server
	certDir string
}

func (g *servingGate) NeedLeaderElection() bool { return false }

func (g *servingGate) Start(ctx context.Context) error {
	log := ctrl.Log.WithName("admission")
	crt, key := filepath.Join(g.certDir, "tls.crt"), filepath.Join(g.certDir, "tls.key")
	logged := false
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(context.Context) (bool, error) {
		if _, err := tls.LoadX509KeyPair(crt, key); err != nil {
			if !logged {
				log.Info("waiting for the webhook certificate before serving", "dir", g.certDir, "reason", err.Error())
				logged = true
			}
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	log.Info("serving webhooks", "dir", g.certDir)
	return g.server.Start(ctx)
}
