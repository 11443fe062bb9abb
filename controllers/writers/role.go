package writers

import (
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// Name names the Role and RoleBinding that let the instance pods of a
// namespace's policed clusters write their StorageObservations.
const Name = "pgstorage-observation-writer"

// The label on both objects, so that an administrator sees whose they are.
const (
	managedByLabel = "app.kubernetes.io/managed-by"
	managedByValue = "cnpg-storage-autoscaler"
)

// Rules are the sidecar's verbs (cmd/sidecar): it may write any observation
// in its namespace by RBAC; the ValidatingAdmissionPolicy in deploy/admission
// narrows that to the one named after its own pod.
func Rules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"storageobservations"},
			Verbs: []string{"get", "create", "update", "delete"}},
		{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"storageobservations/status"},
			Verbs: []string{"update"}},
	}
}
