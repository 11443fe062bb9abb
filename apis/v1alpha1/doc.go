// Package v1alpha1 holds the pgstorage.io/v1alpha1 API: StorageAutoscalePolicy,
// which users write, and StorageObservation, which the probe sidecar writes.
//
// The CRD schemas, their defaults and their CEL validation rules are generated
// from the markers in this package (make manifests); DeepCopy methods likewise
// (make generate). Rules that need another object (the CNPG Cluster, a second
// policy) live in the validating webhook, not here.
//
// +kubebuilder:object:generate=true
// +groupName=pgstorage.io
package v1alpha1
