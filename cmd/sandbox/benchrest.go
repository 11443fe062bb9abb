package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/admission"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/sandbox"
)

// The rest run of `sandbox bench` (issue #21 item 5): what the add-on costs
// while nothing happens, from the kubelet's own stats (its summary API,
// through the API server's node proxy), as `kubectl top` would read them.

const restSampleEvery = 15 * time.Second

// kubeletSummary is the part of the kubelet's /stats/summary the bench
// reads (k8s.io/kubelet/pkg/apis/stats/v1alpha1, which the product does
// not otherwise need).
type kubeletSummary struct {
	Pods []struct {
		PodRef struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"podRef"`
		Containers []struct {
			Name string `json:"name"`
			CPU  struct {
				UsageNanoCores *uint64 `json:"usageNanoCores"`
			} `json:"cpu"`
			Memory struct {
				RSSBytes        *uint64 `json:"rssBytes"`
				WorkingSetBytes *uint64 `json:"workingSetBytes"`
			} `json:"memory"`
		} `json:"containers"`
	} `json:"pods"`
}

// containerSample is one container's CPU and memory at one reading.
type containerSample struct {
	who                  string // what the row is: "probe sidecar (per pod)", "controller (per replica)"
	pod                  string
	milliCores           float64
	rssBytes, workingSet uint64
}

// restSamples picks the add-on's containers out of a summary: the probe in
// the instance pods of namespace, the controller in the add-on's.
func restSamples(summary kubeletSummary, namespace, controllerNamespace string) []containerSample {
	var out []containerSample
	for _, pod := range summary.Pods {
		for _, c := range pod.Containers {
			who := ""
			switch {
			case pod.PodRef.Namespace == namespace && c.Name == admission.SidecarName:
				who = "probe sidecar (per instance pod)"
			case pod.PodRef.Namespace == controllerNamespace && c.Name == "controller":
				who = "controller (per replica)"
			default:
				continue
			}
			s := containerSample{who: who, pod: pod.PodRef.Name}
			if c.CPU.UsageNanoCores != nil {
				s.milliCores = float64(*c.CPU.UsageNanoCores) / 1e6
			}
			if c.Memory.RSSBytes != nil {
				s.rssBytes = *c.Memory.RSSBytes
			}
			if c.Memory.WorkingSetBytes != nil {
				s.workingSet = *c.Memory.WorkingSetBytes
			}
			out = append(out, s)
		}
	}
	return out
}

// restTable summarizes the samples per kind of container: how many
// containers, and the mean and worst CPU, RSS and working set of one.
func restTable(samples []containerSample) string {
	byWho := map[string][]containerSample{}
	for _, s := range samples {
		byWho[s.who] = append(byWho[s.who], s)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| container | containers | samples | CPU mean | CPU worst | RSS mean | RSS worst | working set worst |\n")
	fmt.Fprintf(&b, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	whos := make([]string, 0, len(byWho))
	for who := range byWho {
		whos = append(whos, who)
	}
	slices.Sort(whos)
	for _, who := range whos {
		list := byWho[who]
		pods := map[string]bool{}
		var cpuSum, cpuMax float64
		var rssSum, rssMax, wsMax uint64
		for _, s := range list {
			pods[s.pod] = true
			cpuSum += s.milliCores
			cpuMax = max(cpuMax, s.milliCores)
			rssSum += s.rssBytes
			rssMax = max(rssMax, s.rssBytes)
			wsMax = max(wsMax, s.workingSet)
		}
		n := float64(len(list))
		fmt.Fprintf(&b, "| %s | %d | %d | %.1f m | %.1f m | %.1f MiB | %.1f MiB | %.1f MiB |\n", who, len(pods), len(list),
			cpuSum/n, cpuMax, float64(rssSum)/n/(1<<20), float64(rssMax)/(1<<20), float64(wsMax)/(1<<20))
	}
	return b.String()
}

// benchRest makes a 3-instance cluster with a policy, leaves it alone for
// the given time and samples the kubelet's stats.
func benchRest(ctx context.Context, kube *framework.Cluster, image string, out io.Writer, during time.Duration) (string, error) {
	ns := "bench-" + runRest
	_, cleanup, err := benchCluster(ctx, kube, image, out, ns, 3, benchPolicy(ns, "idle", runRest))
	defer cleanup()
	if err != nil {
		return "", err
	}
	nodes := &corev1.NodeList{}
	if err := kube.Client.List(ctx, nodes); err != nil || len(nodes.Items) == 0 {
		return "", fmt.Errorf("list nodes: %v (%d)", err, len(nodes.Items))
	}
	node := nodes.Items[0].Name
	var samples []containerSample
	err = sandbox.RunStep(out, fmt.Sprintf("sample the kubelet's stats every %s for %s", restSampleEvery, during), func() error {
		deadline := time.Now().Add(during)
		for time.Now().Before(deadline) {
			raw, err := kube.Clientset.CoreV1().RESTClient().Get().
				AbsPath("/api/v1/nodes", node, "proxy", "stats", "summary").DoRaw(ctx)
			if err != nil {
				return fmt.Errorf("kubelet summary of node %s: %w", node, err)
			}
			var summary kubeletSummary
			if err := json.Unmarshal(raw, &summary); err != nil {
				return fmt.Errorf("kubelet summary: %w", err)
			}
			samples = append(samples, restSamples(summary, ns, sandbox.AddonNamespace())...)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(restSampleEvery):
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return restTable(samples), nil
}
