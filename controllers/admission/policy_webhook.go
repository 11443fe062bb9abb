package admission

import (
	"context"
	"fmt"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// PolicyWebhookPath is where the policy validating webhook is served.
const PolicyWebhookPath = "/validate-policy"

// policyValidator is the policy validating webhook around ValidatePolicy.
// Unlike the pod and PVC webhooks it fails closed (failurePolicy: Fail, and
// an internal error here denies): a policy is never accepted unchecked. It
// reads from the API server, not a cache, so that two policies created
// together for one cluster cannot both pass.
type policyValidator struct {
	reader  client.Reader
	decoder admission.Decoder
	budget  time.Duration
}

func (h *policyValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	policy := &v1alpha1.StorageAutoscalePolicy{}
	if err := h.decoder.Decode(req, policy); err != nil {
		return admission.Denied(fmt.Sprintf("cannot read the StorageAutoscalePolicy: %v", err))
	}
	if policy.Namespace == "" {
		policy.Namespace = req.Namespace
	}
	if !policy.DeletionTimestamp.IsZero() {
		return admission.Allowed("being deleted")
	}
	ctx, cancel := context.WithTimeout(ctx, h.budget)
	defer cancel()
	var others v1alpha1.StorageAutoscalePolicyList
	if err := h.reader.List(ctx, &others, client.InNamespace(policy.Namespace)); err != nil {
		return admission.Denied(fmt.Sprintf("cannot check that cluster %s has no other policy (%v); try again",
			policy.Spec.ClusterRef.Name, err))
	}
	cluster, err := getCluster(ctx, h.reader, policy.Namespace, policy.Spec.ClusterRef.Name)
	if err != nil {
		return admission.Denied(fmt.Sprintf("cannot read CNPG Cluster %s to check the policy against it (%v); try again",
			policy.Spec.ClusterRef.Name, err))
	}
	verdict := ValidatePolicy(policy, cluster, others.Items)
	if len(verdict.Errors) > 0 {
		return admission.Denied(strings.Join(verdict.Errors, "; ")).WithWarnings(verdict.Warnings...)
	}
	return admission.Allowed("").WithWarnings(verdict.Warnings...)
}
