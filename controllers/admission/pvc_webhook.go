package admission

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// PVCWebhookPath is where the PVC mutating webhook is served.
const PVCWebhookPath = "/mutate-pvc"

// pvcSizer is the PVC mutating webhook around EffectiveSize. Like the pod
// webhook it never denies: on any error the PVC is created as CNPG asked,
// and the controller grows it right after.
type pvcSizer struct {
	reader  client.Reader
	decoder admission.Decoder
	budget  time.Duration
	log     logr.Logger
}

func (h *pvcSizer) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create {
		return admission.Allowed("only PVC creation is mutated")
	}
	pvc := &corev1.PersistentVolumeClaim{}
	if err := h.decoder.Decode(req, pvc); err != nil {
		return h.allowOnError(req, fmt.Errorf("decode PVC: %w", err))
	}
	clusterName := pvc.Labels[clusterLabel]
	if clusterName == "" || pvc.Labels[pvcRoleLabel] == "" {
		return admission.Allowed("not a CNPG PVC")
	}
	ctx, cancel := context.WithTimeout(ctx, h.budget)
	defer cancel()
	policy, err := PolicyForCluster(ctx, h.reader, req.Namespace, clusterName)
	if err != nil {
		return h.allowOnError(req, err)
	}
	size, raise, reason := EffectiveSize(pvc, policy)
	if !raise {
		return admission.Allowed(reason)
	}
	h.log.Info("new PVC starts at the effective size", "pvc", pvc.Name, "namespace", req.Namespace, "size", size.String())
	op := "replace"
	if _, has := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !has {
		op = "add"
	}
	if pvc.Spec.Resources.Requests == nil {
		return admission.Patched(reason, jsonpatch.NewOperation("add", "/spec/resources/requests",
			map[string]string{string(corev1.ResourceStorage): size.String()}))
	}
	return admission.Patched(reason, jsonpatch.NewOperation(op, "/spec/resources/requests/storage", size.String()))
}

func (h *pvcSizer) allowOnError(req admission.Request, err error) admission.Response {
	h.log.Error(err, "PVC admitted at the size CNPG asked for", "pvc", req.Name, "namespace", req.Namespace)
	return admission.Allowed("admitted unchanged: " + err.Error())
}
