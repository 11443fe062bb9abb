package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// applyManifest applies YAML with the sandbox's kubectl, server-side (CNPG's
// CRDs are too large for client-side apply's annotation).
func (s *Sandbox) applyManifest(ctx context.Context, manifest string) error {
	cmd := exec.CommandContext(ctx, s.kubeBin("kubectl"), "--kubeconfig", s.layout.Kubeconfig(),
		"apply", "--server-side", "--force-conflicts", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubectl apply: %w: %s", err, out)
	}
	return nil
}

// coreDNSManifest: cluster DNS with no upstream forwarder, so nothing a pod
// looks up can send it off the machine. It listens on 1053 so that it runs
// as non-root without capabilities; the Service maps 53 to it.
const coreDNSManifest = `
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:1053 {
        errors
        health :8080
        ready :8181
        kubernetes {{.Domain}} in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 30
        }
        cache 30
        loop
        loadbalance
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      dnsPolicy: Default
      securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: coredns
        image: {{.Image}}
        imagePullPolicy: Never
        args: ["-conf", "/etc/coredns/Corefile"]
        ports:
        - {name: dns, containerPort: 1053, protocol: UDP}
        - {name: dns-tcp, containerPort: 1053, protocol: TCP}
        resources: {requests: {cpu: 10m, memory: 32Mi}, limits: {memory: 128Mi}}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
        livenessProbe: {httpGet: {path: /health, port: 8080}}
        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
      volumes:
      - name: config
        configMap: {name: coredns}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: {{.IP}}
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, targetPort: 1053, protocol: UDP}
  - {name: dns-tcp, port: 53, targetPort: 1053, protocol: TCP}
`

func (s *Sandbox) deployCoreDNS(ctx context.Context) error {
	manifest := strings.NewReplacer("{{.Domain}}", clusterDomain, "{{.Image}}", s.corednsImage,
		"{{.IP}}", dnsServiceIP.String()).Replace(coreDNSManifest)
	if err := s.applyManifest(ctx, manifest); err != nil {
		return err
	}
	return s.waitRollout(ctx, "kube-system", "deployment/coredns")
}

// installCNPG installs the stock operator from the release manifest shipped
// in the CNPG module, changing only the image name and pull policy.
func (s *Sandbox) installCNPG(ctx context.Context) error {
	dir, err := s.layout.moduleDir(ctx, "cnpg", "github.com/cloudnative-pg/cloudnative-pg")
	if err != nil {
		return err
	}
	version := strings.TrimPrefix(s.cnpgImage[strings.LastIndex(s.cnpgImage, ":")+1:], "v")
	data, err := os.ReadFile(filepath.Join(dir, "releases", "cnpg-"+version+".yaml"))
	if err != nil {
		return fmt.Errorf("CNPG release manifest: %w", err)
	}
	upstream := "ghcr.io/cloudnative-pg/cloudnative-pg:" + version
	manifest := string(data)
	if !strings.Contains(manifest, upstream) {
		return fmt.Errorf("CNPG release manifest does not name %s: cannot swap the image", upstream)
	}
	manifest = strings.ReplaceAll(manifest, upstream, s.cnpgImage)
	manifest = strings.ReplaceAll(manifest, "imagePullPolicy: Always", "imagePullPolicy: Never")
	if err := s.applyManifest(ctx, manifest); err != nil {
		return err
	}
	return s.waitRollout(ctx, "cnpg-system", "deployment/cnpg-controller-manager")
}

func (s *Sandbox) waitRollout(ctx context.Context, namespace, object string) error {
	_, err := s.kubectl(ctx, "-n", namespace, "rollout", "status", object, "--timeout="+(4*time.Minute).String())
	if err != nil {
		out, _ := s.kubectl(ctx, "-n", namespace, "get", "pods", "-o", "wide")
		events, _ := s.kubectl(ctx, "-n", namespace, "get", "events", "--sort-by=.lastTimestamp")
		return fmt.Errorf("%w\n%s\n%s", err, out, lastLines(events, 15))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
