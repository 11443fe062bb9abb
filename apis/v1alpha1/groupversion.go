package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The registration uses apimachinery alone (not controller-runtime's
// scheme.Builder) so that pure packages such as controllers/plan can import
// these types without pulling in a Kubernetes client.

var (
	// GroupVersion is the API group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "pgstorage.io", Version: "v1alpha1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this package's kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion,
		&StorageAutoscalePolicy{}, &StorageAutoscalePolicyList{},
		&StorageObservation{}, &StorageObservationList{},
	)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
