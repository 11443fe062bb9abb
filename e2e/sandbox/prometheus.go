package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The sandbox's Prometheus is built from its module (e2e/tools/prometheus:
// Debian's 2.42 has no Kubernetes service discovery) and runs as a host
// process. It finds the controller and every probe sidecar through
// Kubernetes service discovery, as an installation without the Prometheus
// operator does, with the same selection the chart's ServiceMonitor and
// PodMonitor make, and it evaluates the add-on's alert rules
// (deploy/prometheus/rules.yaml) as they ship. The E2E suite queries it for
// every dashboard panel and alert; `make demo` points at it.
const (
	prometheusAddress = "127.0.0.1:19090"
	// A short interval: a growth on the sandbox takes seconds.
	prometheusInterval = "5s"
)

const prometheusStep = "start Prometheus, scraping the controller and the probes it discovers"

// PrometheusURL is where the sandbox's Prometheus answers.
func PrometheusURL() string { return "http://" + prometheusAddress }

func (s *Sandbox) startPrometheus(ctx context.Context) error {
	config := s.layout.config("prometheus.yml")
	if err := os.MkdirAll(filepath.Dir(config), 0o755); err != nil {
		return err
	}
	rules := filepath.Join(s.layout.Repo, "deploy", "prometheus", "rules.yaml")
	if err := os.WriteFile(config, []byte(prometheusConfig(s.layout.Kubeconfig(), rules)), 0o644); err != nil {
		return err
	}
	return s.start(ctx, process{
		name: "prometheus",
		bin:  filepath.Join(s.tools["prometheus"], "prometheus"),
		args: []string{
			"--config.file=" + config,
			"--storage.tsdb.path=" + filepath.Join(s.layout.Root, "prometheus"),
			"--storage.tsdb.retention.time=1d",
			"--web.listen-address=" + prometheusAddress,
			"--log.level=warn",
		},
		ready: httpOK(nil, PrometheusURL()+"/-/ready"),
	})
}

// prometheusConfig is the scrape configuration. Both jobs select pods the
// way the chart's monitors do (deploy/helm/.../templates/monitoring.yaml):
// the controller's pods by the chart's name label and their "metrics" port,
// with honor_labels because the controller's series carry the policy's own
// namespace; the probes by CNPG's instance label and their "probe-metrics"
// port, labelled with the pod's namespace and name as the operator would.
func prometheusConfig(kubeconfig, rules string) string {
	job := func(name, namespaces, keepLabel, keepValue, port string, honorLabels bool) string {
		return fmt.Sprintf(`  - job_name: %[1]s
    honor_labels: %[6]t
    kubernetes_sd_configs:
      - role: pod
        kubeconfig_file: %[7]s%[2]s
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_phase]
        regex: Failed|Succeeded
        action: drop
      - source_labels: [%[3]s]
        regex: %[4]s
        action: keep
      - source_labels: [__meta_kubernetes_pod_container_port_name]
        regex: %[5]s
        action: keep
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_pod_container_name]
        target_label: container
`, name, namespaces, keepLabel, keepValue, port, honorLabels, kubeconfig)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `global:
  scrape_interval: %[1]s
  evaluation_interval: %[1]s
rule_files:
  - %[2]s
scrape_configs:
`, prometheusInterval, rules)
	b.WriteString(job(addonRelease, "\n        namespaces:\n          names: ["+addonNamespace+"]",
		"__meta_kubernetes_pod_label_app_kubernetes_io_name", addonRelease, "metrics", true))
	b.WriteString(job(addonRelease+"-sidecars", "",
		"__meta_kubernetes_pod_label_cnpg_io_podRole", "instance", "probe-metrics", false))
	return b.String()
}
