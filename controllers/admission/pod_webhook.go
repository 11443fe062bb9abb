package admission

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// PodWebhookPath is where the pod mutating webhook is served.
const PodWebhookPath = "/mutate-pod"

// podInjector is the pod mutating webhook: a thin shell around Inject. It
// never denies: every error allows the pod unchanged (and is logged), because
// a CNPG instance that starts without the probe is better than one that does
// not start. The policy then reports the pod in SidecarMissing.
type podInjector struct {
	reader  client.Reader
	decoder admission.Decoder
	config  SidecarConfig
	// budget bounds the handler's own reads, well inside the API server's
	// timeoutSeconds, so that it answers "allowed" rather than timing out.
	budget time.Duration
	log    logr.Logger
}

func (h *podInjector) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create {
		return admission.Allowed("only pod creation is mutated")
	}
	pod := &corev1.Pod{}
	if err := h.decoder.Decode(req, pod); err != nil {
		return h.allowOnError(req, fmt.Errorf("decode pod: %w", err))
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	clusterName := pod.Labels[clusterLabel]
	if pod.Labels[instanceRoleLabel] != instanceRoleLabelValue || clusterName == "" {
		return admission.Allowed("not a CNPG instance pod")
	}
	ctx, cancel := context.WithTimeout(ctx, h.budget)
	defer cancel()
	policy, err := PolicyForCluster(ctx, h.reader, pod.Namespace, clusterName)
	if err != nil {
		return h.allowOnError(req, err)
	}
	if policy == nil {
		return admission.Allowed(fmt.Sprintf("cluster %s has no StorageAutoscalePolicy", clusterName))
	}
	cluster, err := getCluster(ctx, h.reader, pod.Namespace, clusterName)
	if err != nil {
		// The pod itself says PostgreSQL's UID; the Cluster is only a fallback.
		h.log.Info("injecting without the Cluster", "pod", req.Name, "namespace", req.Namespace, "error", err.Error())
	}
	_, d := Inject(pod, cluster, policy, h.config)
	if d.Sidecar == nil {
		return admission.Allowed(d.Reason)
	}
	h.log.V(1).Info("injecting the probe", "pod", pod.Name, "namespace", pod.Namespace, "decision", d.Reason)
	return admission.Patched(d.Reason, addInitContainer(pod, d))
}

// addInitContainer is one JSON patch operation that inserts the sidecar and
// nothing else: the rest of the pod goes back to the API server exactly as
// CNPG sent it, byte for byte (no decode/re-encode round trip).
func addInitContainer(pod *corev1.Pod, d Decision) jsonpatch.JsonPatchOperation {
	if len(pod.Spec.InitContainers) == 0 {
		return jsonpatch.NewOperation("add", "/spec/initContainers", []corev1.Container{*d.Sidecar})
	}
	return jsonpatch.NewOperation("add", fmt.Sprintf("/spec/initContainers/%d", d.Index), d.Sidecar)
}

func (h *podInjector) allowOnError(req admission.Request, err error) admission.Response {
	h.log.Error(err, "pod admitted without the probe sidecar", "pod", req.Name, "namespace", req.Namespace)
	resp := admission.Allowed("admitted without the probe sidecar: " + err.Error())
	resp.Result.Code = http.StatusOK
	return resp
}
