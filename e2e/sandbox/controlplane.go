package sandbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

const (
	etcdClientURL = "http://127.0.0.1:23790"
	etcdPeerURL   = "http://127.0.0.1:23800"
)

func (s *Sandbox) startEtcd(ctx context.Context) error {
	return s.start(ctx, process{
		name: "etcd",
		bin:  s.kubeBin("etcd"),
		args: []string{
			"--name=sandbox", "--data-dir=" + s.layout.etcdDir(),
			"--listen-client-urls=" + etcdClientURL, "--advertise-client-urls=" + etcdClientURL,
			"--listen-peer-urls=" + etcdPeerURL, "--initial-advertise-peer-urls=" + etcdPeerURL,
			"--initial-cluster=sandbox=" + etcdPeerURL,
			"--listen-metrics-urls=http://127.0.0.1:23810",
			"--quota-backend-bytes=2147483648", "--log-level=warn",
		},
		ready: httpOK(nil, "http://127.0.0.1:23810/health"),
	})
}

// startAPIServer runs kube-apiserver the way a kubeadm node would: RBAC and
// Node authorization, service-account tokens, the default admission plugins
// (webhooks, ValidatingAdmissionPolicy, PersistentVolumeClaimResize, quota)
// plus NodeRestriction.
func (s *Sandbox) startAPIServer(ctx context.Context) error {
	pki := s.layout.pki
	client, err := s.adminHTTPClient()
	if err != nil {
		return err
	}
	return s.start(ctx, process{
		name: "kube-apiserver",
		bin:  s.kubeBin("kube-apiserver"),
		args: []string{
			"--etcd-servers=" + etcdClientURL,
			"--bind-address=0.0.0.0", "--advertise-address=" + nodeIP.String(),
			fmt.Sprintf("--secure-port=%d", apiServerPort),
			"--tls-cert-file=" + pki("apiserver.crt"), "--tls-private-key-file=" + pki("apiserver.key"),
			"--client-ca-file=" + pki("ca.crt"),
			"--kubelet-client-certificate=" + pki("apiserver-kubelet-client.crt"),
			"--kubelet-client-key=" + pki("apiserver-kubelet-client.key"),
			"--kubelet-certificate-authority=" + pki("ca.crt"),
			"--kubelet-preferred-address-types=InternalIP",
			"--service-account-key-file=" + pki("sa.pub"),
			"--service-account-signing-key-file=" + pki("sa.key"),
			"--service-account-issuer=https://kubernetes.default.svc." + clusterDomain,
			"--api-audiences=https://kubernetes.default.svc." + clusterDomain,
			"--service-cluster-ip-range=" + serviceCIDR,
			"--authorization-mode=Node,RBAC",
			"--enable-admission-plugins=NodeRestriction",
			"--allow-privileged=true",
			"--profiling=false",
			"--v=1",
		},
		ready: httpOK(client, fmt.Sprintf("https://%s:%d/readyz", nodeIP, apiServerPort)),
	})
}

func (s *Sandbox) startControllerManager(ctx context.Context) error {
	pki := s.layout.pki
	kubeconfig := s.layout.config("controller-manager.kubeconfig")
	return s.start(ctx, process{
		name: "kube-controller-manager",
		bin:  s.kubeBin("kube-controller-manager"),
		args: []string{
			"--kubeconfig=" + kubeconfig,
			"--authentication-kubeconfig=" + kubeconfig, "--authorization-kubeconfig=" + kubeconfig,
			"--cluster-signing-cert-file=" + pki("ca.crt"), "--cluster-signing-key-file=" + pki("ca.key"),
			"--root-ca-file=" + pki("ca.crt"),
			"--service-account-private-key-file=" + pki("sa.key"),
			"--use-service-account-credentials=true",
			"--controllers=*", "--leader-elect=false",
			"--cluster-cidr=" + podCIDR, "--service-cluster-ip-range=" + serviceCIDR,
			"--bind-address=127.0.0.1", "--secure-port=10257",
			"--v=1",
		},
		ready: httpOK(insecureLocal(), "https://127.0.0.1:10257/healthz"),
	})
}

func (s *Sandbox) startScheduler(ctx context.Context) error {
	kubeconfig := s.layout.config("scheduler.kubeconfig")
	return s.start(ctx, process{
		name: "kube-scheduler",
		bin:  s.kubeBin("kube-scheduler"),
		args: []string{
			"--kubeconfig=" + kubeconfig,
			"--authentication-kubeconfig=" + kubeconfig, "--authorization-kubeconfig=" + kubeconfig,
			"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=10259", "--v=1",
		},
		ready: httpOK(insecureLocal(), "https://127.0.0.1:10259/healthz"),
	})
}

// adminHTTPClient talks to the API server as the admin, verifying it with the CA.
func (s *Sandbox) adminHTTPClient() (*http.Client, error) {
	ca, err := os.ReadFile(s.layout.pki("ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(s.layout.pki("admin.crt"), s.layout.pki("admin.key"))
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}, nil
}

// insecureLocal is for the health endpoints that components serve on
// 127.0.0.1 with self-signed certificates of their own.
func insecureLocal() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback health check
	}}
}

// httpOK is a readiness check: GET url answers 200.
func httpOK(client *http.Client, url string) func(context.Context) error {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
		}
		return nil
	}
}

func (s *Sandbox) kubeBin(name string) string {
	return filepath.Join(s.tools["kubernetes"], name)
}
