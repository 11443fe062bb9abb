package sandbox

import (
	"fmt"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes a kubeconfig for one client certificate of the PKI.
func writeKubeconfig(l Layout, path, certFile string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["sandbox"] = &clientcmdapi.Cluster{
		Server:               fmt.Sprintf("https://%s:%d", nodeIP, apiServerPort),
		CertificateAuthority: l.pki("ca.crt"),
	}
	cfg.AuthInfos[certFile] = &clientcmdapi.AuthInfo{
		ClientCertificate: l.pki(certFile + ".crt"),
		ClientKey:         l.pki(certFile + ".key"),
	}
	cfg.Contexts["sandbox"] = &clientcmdapi.Context{Cluster: "sandbox", AuthInfo: certFile}
	cfg.CurrentContext = "sandbox"
	if err := os.MkdirAll(l.config(""), 0o755); err != nil {
		return err
	}
	return clientcmd.WriteToFile(*cfg, path)
}

// writeKubeconfigs writes the admin kubeconfig and one per component.
func writeKubeconfigs(l Layout) error {
	for path, cert := range map[string]string{
		l.Kubeconfig(): "admin",
		l.config("controller-manager.kubeconfig"): "controller-manager",
		l.config("scheduler.kubeconfig"):          "scheduler",
		l.config("kube-proxy.kubeconfig"):         "kube-proxy",
		l.config("kubelet.kubeconfig"):            "kubelet-client",
	} {
		if err := writeKubeconfig(l, path, cert); err != nil {
			return fmt.Errorf("kubeconfig %s: %w", path, err)
		}
	}
	return nil
}
