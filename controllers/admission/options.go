package admission

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Options configure the admission side of the controller binary. BindFlags
// registers them as flags; cmd/controller parses and passes them to Setup.
type Options struct {
	// WebhookHost and WebhookPort are where the webhook server listens
	// (every replica serves, leader or not).
	WebhookHost string
	WebhookPort int
	// CertDir holds tls.crt and tls.key: the webhook Secret mounted into the
	// pod. The server starts once both are there and reloads them on change.
	CertDir string
	// CertManager: cert-manager issues the Secret and injects caBundle; this
	// process only serves from CertDir. Otherwise the built-in rotator
	// (open-policy-agent/cert-controller) does both, on the leader.
	CertManager bool
	// SecretName/SecretNamespace name the webhook's TLS Secret. The chart
	// creates it (empty when the rotator fills it).
	SecretName, SecretNamespace string
	// ServiceName is the webhook Service; the certificate is issued for
	// <service>.<namespace>.svc and its other in-cluster names.
	ServiceName string
	// ExtraDNSNames are added to the serving certificate (tests use localhost).
	ExtraDNSNames []string
	// MutatingWebhookName and ValidatingWebhookName are the webhook
	// configurations whose caBundle the rotator keeps current.
	MutatingWebhookName, ValidatingWebhookName string
	// Sidecar is the injected probe's image and resources.
	Sidecar SidecarConfig
	// HandlerBudget bounds each admission call's own reads; keep it below the
	// webhook configurations' timeoutSeconds (5) so a slow read ends in
	// "allowed", not in a timeout.
	HandlerBudget time.Duration
	// ServerCertDuration is how long the rotator's serving certificates live
	// (0: cert-controller's default of one year). Tests shorten it.
	ServerCertDuration time.Duration

	// rotatorName names the rotator's controller; controller names are
	// unique per process, and tests start more than one manager.
	rotatorName string
}

// Defaults, also the flags' defaults.
const (
	DefaultWebhookPort           = 9443
	DefaultCertDir               = "/tmp/k8s-webhook-server/serving-certs"
	DefaultSecretName            = "cnpg-storage-autoscaler-webhook-tls"
	DefaultServiceName           = "cnpg-storage-autoscaler-webhook"
	DefaultMutatingWebhookName   = "cnpg-storage-autoscaler"
	DefaultValidatingWebhookName = "cnpg-storage-autoscaler"
	DefaultHandlerBudget         = 3 * time.Second
)

// BindFlags registers the admission flags on fs and returns the Options
// they fill. Resource quantities are checked by Setup (through Validate).
func BindFlags(fs *flag.FlagSet) *Options {
	o := &Options{Sidecar: DefaultSidecarConfig("")}
	fs.StringVar(&o.WebhookHost, "webhook-host", "", "address the webhook server listens on (empty: all)")
	fs.IntVar(&o.WebhookPort, "webhook-port", DefaultWebhookPort, "port of the webhook server (every replica serves)")
	fs.StringVar(&o.CertDir, "cert-dir", DefaultCertDir, "directory holding the webhook Secret's tls.crt and tls.key")
	fs.BoolVar(&o.CertManager, "cert-manager", false,
		"cert-manager issues the webhook certificate and injects caBundle; do not run the built-in rotator")
	fs.StringVar(&o.SecretName, "webhook-secret-name", DefaultSecretName, "Secret holding the webhook's CA and serving certificate")
	fs.StringVar(&o.SecretNamespace, "webhook-secret-namespace", os.Getenv("POD_NAMESPACE"),
		"namespace of the webhook Secret and Service (default: the controller's namespace from POD_NAMESPACE)")
	fs.StringVar(&o.ServiceName, "webhook-service-name", DefaultServiceName, "Service in front of the webhook server")
	fs.StringVar(&o.MutatingWebhookName, "mutating-webhook-name", DefaultMutatingWebhookName,
		"MutatingWebhookConfiguration whose caBundle the rotator keeps current")
	fs.StringVar(&o.ValidatingWebhookName, "validating-webhook-name", DefaultValidatingWebhookName,
		"ValidatingWebhookConfiguration whose caBundle the rotator keeps current")
	fs.StringVar(&o.Sidecar.Image, "sidecar-image", "", "image of the probe sidecar injected into CNPG instance pods (required)")
	quantity(fs, &o.Sidecar.CPURequest, "sidecar-cpu-request", "CPU request of the probe sidecar")
	quantity(fs, &o.Sidecar.CPULimit, "sidecar-cpu-limit", "CPU limit of the probe sidecar")
	quantity(fs, &o.Sidecar.MemoryRequest, "sidecar-memory-request", "memory request of the probe sidecar")
	quantity(fs, &o.Sidecar.MemoryLimit, "sidecar-memory-limit", "memory limit of the probe sidecar")
	fs.DurationVar(&o.HandlerBudget, "webhook-handler-budget", DefaultHandlerBudget,
		"longest time an admission call spends reading; keep it below the webhooks' timeoutSeconds")
	return o
}

func quantity(fs *flag.FlagSet, q *resource.Quantity, name, help string) {
	def := q.String()
	fs.Func(name, fmt.Sprintf("%s (default %s)", help, def), func(s string) error {
		v, err := resource.ParseQuantity(s)
		if err != nil {
			return fmt.Errorf("--%s %q is not a quantity such as 100m or 64Mi: %w", name, s, err)
		}
		*q = v
		return nil
	})
}

// Validate names the first impossible setting and its flag.
func (o *Options) Validate() error {
	var errs []string
	if o.Sidecar.Image == "" {
		errs = append(errs, "--sidecar-image is required: the probe image injected into CNPG instance pods")
	}
	if o.SecretNamespace == "" {
		errs = append(errs, "--webhook-secret-namespace is required (or POD_NAMESPACE)")
	}
	if o.WebhookPort <= 0 || o.WebhookPort > 65535 {
		errs = append(errs, fmt.Sprintf("--webhook-port %d is not a TCP port", o.WebhookPort))
	}
	for _, pair := range []struct {
		request, limit resource.Quantity
		what           string
	}{
		{o.Sidecar.CPURequest, o.Sidecar.CPULimit, "cpu"},
		{o.Sidecar.MemoryRequest, o.Sidecar.MemoryLimit, "memory"},
	} {
		if pair.limit.IsZero() || pair.request.Cmp(pair.limit) > 0 {
			errs = append(errs, fmt.Sprintf("--sidecar-%s-limit (%s) must be set and at least --sidecar-%s-request (%s)",
				pair.what, pair.limit.String(), pair.what, pair.request.String()))
		}
	}
	if o.Sidecar.MetricsPort == 0 {
		o.Sidecar.MetricsPort = DefaultMetricsPort
	}
	if o.HandlerBudget <= 0 {
		o.HandlerBudget = DefaultHandlerBudget
	}
	if len(errs) > 0 {
		return errors.New("admission: " + strings.Join(errs, "; "))
	}
	return nil
}

// certDNSNames are the names the API server may use for the webhook Service.
func (o *Options) certDNSNames() (primary string, extra []string) {
	svc, ns := o.ServiceName, o.SecretNamespace
	primary = fmt.Sprintf("%s.%s.svc", svc, ns)
	extra = append([]string{svc, svc + "." + ns, primary + ".cluster.local"}, o.ExtraDNSNames...)
	return primary, extra
}
