package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

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
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	var err error
	env, err = testenv.Start()
	if err != nil {
		return 0, err
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop test API server:", err)
		}
	}()
	logFile, err := os.CreateTemp("", "admission-test-*.log")
	if err != nil {
		return 0, err
	}
	defer logFile.Close()
	var logMu sync.Mutex
	ctrl.SetLogger(funcr.New(func(prefix, args string) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintln(logFile, time.Now().Format(time.RFC3339Nano), prefix, args)
	}, funcr.Options{Verbosity: 1}))

	harness, err = newHarness()
	if err != nil {
		return 0, err
	}
	defer harness.stop()
	if err := harness.start(false); err != nil {
		return 0, err
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "controller logs:", logFile.Name())
	}
	return code, nil
}

// admissionHarness runs Setup in a manager of its own, as cmd/controller does.
type admissionHarness struct {
	options Options
	cancel  context.CancelFunc
	done    chan error
	kubelet context.CancelFunc
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
	if err := applyYAML(ctx, c, filepath.Join(testenv.RepoRoot(), "deploy", "admission", "observation-ownership.yaml")); err != nil {
		return nil, err
	}
	kctx, kcancel := context.WithCancel(ctx)
	go syncSecretToDir(kctx, c, client.ObjectKey{Namespace: testSecretNamespace, Name: o.SecretName}, certDir)
	return &admissionHarness{options: o, kubelet: kcancel}, nil
}

// start runs a manager with Setup; certManager: serve from the files only,
// as with cert-manager (a second rotator cannot be registered in one process).
func (h *admissionHarness) start(certManager bool) error {
	o := h.options
	o.CertManager = certManager
	h.starts++
	o.rotatorName = fmt.Sprintf("cert-rotator-%d", h.starts)
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return err
	}
	if err := Setup(mgr, o); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- mgr.Start(ctx) }()
	return h.waitServing(ctx)
}

func (h *admissionHarness) stop() {
	if h.cancel != nil {
		h.cancel()
		<-h.done
		h.cancel = nil
	}
}

// waitServing returns once the API server could call the webhooks: the
// server answers TLS with a certificate that the caBundle of the mutating
// and validating configurations verifies.
func (h *admissionHarness) waitServing(ctx context.Context) error {
	addr := fmt.Sprintf("127.0.0.1:%d", h.options.WebhookPort)
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-h.done:
			return false, fmt.Errorf("manager stopped: %w", err)
		default:
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
	objs, err := decodeYAML(filepath.Join(testenv.RepoRoot(), "deploy", "admission", "webhooks.yaml"))
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
		if err := c.Create(ctx, obj.(client.Object)); err != nil {
			return fmt.Errorf("install webhook configuration: %w", err)
		}
	}
	return nil
}

func applyYAML(ctx context.Context, c client.Client, path string) error {
	objs, err := decodeYAML(path)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		if err := c.Create(ctx, obj.(client.Object)); err != nil {
			return fmt.Errorf("apply %s: %w", path, err)
		}
	}
	return nil
}

func decodeYAML(path string) ([]runtime.Object, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	codecs := serializer.NewCodecFactory(env.Scheme)
	var out []runtime.Object
	for {
		var doc runtime.RawExtension
		if err := decoder.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("decode %s: %w", path, err)
		}
		if len(bytes.TrimSpace(doc.Raw)) == 0 {
			continue
		}
		obj, _, err := codecs.UniversalDeserializer().Decode(doc.Raw, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", path, err)
		}
		out = append(out, obj)
	}
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

func newNamespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "admission-", Labels: labels}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
