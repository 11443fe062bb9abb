package sandbox

import (
	"context"
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/yaml"
)

// kubeletConfig keeps upstream defaults for everything users meet on a real
// node (pod sync period, volume stats period, restart backoff: DESIGN §9
// "same timings as a real node"); it changes only what this machine needs.
func (s *Sandbox) kubeletConfig() map[string]any {
	pki := s.layout.pki
	return map[string]any{
		"apiVersion": "kubelet.config.k8s.io/v1beta1",
		"kind":       "KubeletConfiguration",
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": false},
			"webhook":   map[string]any{"enabled": true},
			"x509":      map[string]any{"clientCAFile": pki("ca.crt")},
		},
		"authorization":            map[string]any{"mode": "Webhook"},
		"cgroupDriver":             "cgroupfs", // cgroup v1 without systemd
		"failSwapOn":               false,
		"clusterDNS":               []string{dnsServiceIP.String()},
		"clusterDomain":            clusterDomain,
		"containerRuntimeEndpoint": "unix://" + s.layout.containerdSocket(),
		"tlsCertFile":              pki("kubelet-serving.crt"),
		"tlsPrivateKeyFile":        pki("kubelet-serving.key"),
		"address":                  nodeIP.String(),
		"healthzBindAddress":       "127.0.0.1",
		"healthzPort":              10248,
		// Pods resolve through CoreDNS only; the host's resolvers are not theirs.
		"resolvConf": s.layout.config("resolv.conf"),
		// A small shared disk must not evict pods; images cannot be pulled
		// again, so image GC must never remove one.
		"evictionHard": map[string]string{
			"memory.available": "100Mi", "nodefs.available": "1%",
			"imagefs.available": "1%", "nodefs.inodesFree": "1%",
		},
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"serializeImagePulls":         false,
	}
}

func (s *Sandbox) startKubelet(ctx context.Context) error {
	data, err := yaml.Marshal(s.kubeletConfig())
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.layout.config("kubelet.yaml"), data, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(s.layout.config("resolv.conf"), []byte("# no upstream resolvers: the sandbox stays on this machine\n"), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(s.layout.kubeletDir(), 0o750); err != nil {
		return err
	}
	return s.start(ctx, process{
		name: "kubelet",
		bin:  s.kubeBin("kubelet"),
		args: []string{
			"--config=" + s.layout.config("kubelet.yaml"),
			"--kubeconfig=" + s.layout.config("kubelet.kubeconfig"),
			"--root-dir=" + s.layout.kubeletDir(),
			"--node-ip=" + nodeIP.String(),
			"--hostname-override=" + nodeName,
			"--v=1",
		},
		ready: httpOK(nil, "http://127.0.0.1:10248/healthz"),
	})
}

func (s *Sandbox) startKubeProxy(ctx context.Context) error {
	conf := map[string]any{
		"apiVersion":         "kubeproxy.config.k8s.io/v1alpha1",
		"kind":               "KubeProxyConfiguration",
		"mode":               "iptables",
		"clientConnection":   map[string]any{"kubeconfig": s.layout.config("kube-proxy.kubeconfig")},
		"clusterCIDR":        podCIDR,
		"hostnameOverride":   nodeName,
		"bindAddress":        nodeIP.String(),
		"healthzBindAddress": "127.0.0.1:10256",
		"metricsBindAddress": "127.0.0.1:10249",
		// Leave the machine's conntrack sysctls alone.
		"conntrack": map[string]any{"maxPerCore": 0},
	}
	data, err := yaml.Marshal(conf)
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.layout.config("kube-proxy.yaml"), data, 0o644); err != nil {
		return err
	}
	return s.start(ctx, process{
		name:  "kube-proxy",
		bin:   s.kubeBin("kube-proxy"),
		args:  []string{"--config=" + s.layout.config("kube-proxy.yaml"), "--v=1"},
		ready: httpOK(nil, "http://127.0.0.1:10256/healthz"),
	})
}

// kubectl runs the sandbox's kubectl with the admin kubeconfig.
func (s *Sandbox) kubectl(ctx context.Context, args ...string) (string, error) {
	return output(ctx, s.kubeBin("kubectl"), append([]string{"--kubeconfig", s.layout.Kubeconfig()}, args...)...)
}

// waitNodeReady waits until the node reports Ready.
func (s *Sandbox) waitNodeReady(ctx context.Context) error {
	return waitFor(ctx, 3*time.Minute, func(ctx context.Context) error {
		out, err := s.kubectl(ctx, "get", "node", nodeName, "-o",
			`jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err != nil {
			return err
		}
		if out != "True" {
			return fmt.Errorf("node %s Ready=%q", nodeName, out)
		}
		return nil
	})
}
