package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
)

// The integration tests run the webhooks the way a cluster does: the real
// kube-apiserver calls this test process over TLS, through the webhook
// configurations shipped in deploy/admission (only clientConfig is pointed
// here), with the certificate minted by the real rotator into a real Secret
// and its caBundle injected by it. What kubelet does in a cluster (mount the
// Secret's files into the pod) is done by syncSecretToDir.

const (
	testSecretNamespace = "pgstorage-system"
	testSidecarImage    = "localhost/pgstorage-sidecar:test"
)

var (
	env     *testenv.Env
	harness *admissionHarness
)

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithLogs(m, &env, "admission-test-*.log", func() (err error) {
		if harness, err = newHarness(); err != nil {
			return err
		}
		return harness.start(false)
	}))
}

// admissionHarness runs Setup in a manager of its own, as cmd/controller does.
type admissionHarness struct {
	options Options
	manager *testenv.Manager
	starts  int
}

func newHarness() (*admissionHarness, error) {
	ctx := context.Background()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	certDir, err := os.MkdirTemp("", "admission-certs-")
	if err != nil {
		return nil, err
	}
	o := Options{
		WebhookHost: "127.0.0.1", WebhookPort: port, CertDir: certDir,
		SecretName: DefaultSecretName, SecretNamespace: testSecretNamespace, ServiceName: DefaultServiceName,
		ExtraDNSNames:       []string{"localhost"},
		MutatingWebhookName: DefaultMutatingWebhookName, ValidatingWebhookName: DefaultValidatingWebhookName,
		Sidecar: DefaultSidecarConfig(testSidecarImage),
	}
	c := env.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testSecretNamespace}}); err != nil {
		return nil, err
	}
	// The chart creates the Secret empty; the rotator fills it.
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: o.SecretName, Namespace: testSecretNamespace}}); err != nil {
		return nil, err
	}
	if err := installWebhookConfigurations(ctx, c, fmt.Sprintf("https://localhost:%d", port)); err != nil {
		return nil, err
	}
	// Kubelet's part runs as long as the process: every manager serves
	// from the same directory.
	go syncSecretToDir(ctx, c, client.ObjectKey{Namespace: testSecretNamespace, Name: o.SecretName}, certDir)
	return &admissionHarness{options: o}, nil
}

// start runs a manager with Setup; certManager: serve from the files only,
// as with cert-manager (a second rotator cannot be registered in one process).
func (h *admissionHarness) start(certManager bool) error {
	o := h.options
	o.CertManager = certManager
	h.starts++
	o.rotatorName = fmt.Sprintf("cert-rotator-%d", h.starts)
	var err error
	h.manager, err = env.StartManager(func(mgr manager.Manager) error { return Setup(mgr, o) })
	if err != nil {
		return err
	}
	return h.waitServing(context.Background())
}

func (h *admissionHarness) stop() {
	if h.manager != nil {
		_ = h.manager.Stop()
		h.manager = nil
	}
}

// waitServing returns once the API server could call the webhooks: the
// server answers TLS with a certificate that the caBundle of the mutating
// and validating configurations verifies.
func (h *admissionHarness) waitServing(ctx context.Context) error {
	addr := fmt.Sprintf("127.0.0.1:%d", h.options.WebhookPort)
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if stopped, err := h.manager.Stopped(); stopped {
			return false, fmt.Errorf("manager stopped: %w", err)
		}
		for _, bundle := range caBundles(ctx, env.Client) {
			if _, last = servedCertificate(addr, bundle); last != nil {
				return false, nil
			}
		}
		return len(caBundles(ctx, env.Client)) == 2, nil
	})
	if err != nil {
		return fmt.Errorf("webhooks not served at %s: %w (last: %v)", addr, err, last)
	}
	return nil
}

func caBundles(ctx context.Context, c client.Client) [][]byte {
	var out [][]byte
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if c.Get(ctx, client.ObjectKey{Name: DefaultMutatingWebhookName}, m) == nil && len(m.Webhooks) > 0 && len(m.Webhooks[0].ClientConfig.CABundle) > 0 {
		out = append(out, m.Webhooks[0].ClientConfig.CABundle)
	}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if c.Get(ctx, client.ObjectKey{Name: DefaultValidatingWebhookName}, v) == nil && len(v.Webhooks) > 0 && len(v.Webhooks[0].ClientConfig.CABundle) > 0 {
		out = append(out, v.Webhooks[0].ClientConfig.CABundle)
	}
	return out
}

// servedCertificate dials the webhook server as the API server does
// (server name localhost, roots from caBundle) and returns the leaf.
func servedCertificate(addr string, caBundle []byte) (*x509.Certificate, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caBundle) {
		return nil, errors.New("caBundle holds no certificate")
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{ServerName: "localhost", RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// installWebhookConfigurations creates deploy/admission/webhooks.yaml with
// every clientConfig pointed at base (URL instead of Service: envtest has no
// Service network). Everything else is as shipped.
func installWebhookConfigurations(ctx context.Context, c client.Client, base string) error {
	objs, err := env.Decode(filepath.Join(testenv.RepoRoot(), "deploy", "admission", "webhooks.yaml"))
	if err != nil {
		return err
	}
	for _, obj := range objs {
		switch o := obj.(type) {
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			for i := range o.Webhooks {
				cc := &o.Webhooks[i].ClientConfig
				cc.URL, cc.Service = ptr.To(base+*cc.Service.Path), nil
			}
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			for i := range o.Webhooks {
				cc := &o.Webhooks[i].ClientConfig
				cc.URL, cc.Service = ptr.To(base+*cc.Service.Path), nil
			}
		}
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("install webhook configuration: %w", err)
		}
	}
	return nil
}

// syncSecretToDir plays kubelet's part: it keeps tls.crt and tls.key in dir
// equal to the Secret, replacing each file atomically.
func syncSecretToDir(ctx context.Context, c client.Client, key client.ObjectKey, dir string) {
	var last []byte
	_ = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		s := &corev1.Secret{}
		if err := c.Get(ctx, key, s); err != nil {
			return false, nil
		}
		crt, k := s.Data["tls.crt"], s.Data["tls.key"]
		if len(crt) == 0 || len(k) == 0 || bytes.Equal(crt, last) {
			return false, nil
		}
		if writeAtomically(filepath.Join(dir, "tls.key"), k) == nil && writeAtomically(filepath.Join(dir, "tls.crt"), crt) == nil {
			last = crt
		}
		return false, nil
	})
}

func writeAtomically(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
