package report

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/cnpgnames"
)

// Identity is the pod the observation describes, from the downward API.
type Identity struct {
	PodName, Namespace, PodUID, Cluster string
}

// newObservation is the object as first created: named after the pod, in
// its namespace, owned by it. blockOwnerDeletion stays unset: setting it
// needs delete rights on pods' finalizers, which the sidecar must not hold.
func (id Identity) newObservation() *v1alpha1.StorageObservation {
	return &v1alpha1.StorageObservation{
		ObjectMeta: metav1.ObjectMeta{
			Name:      id.PodName,
			Namespace: id.Namespace,
			Labels:    map[string]string{cnpgnames.ClusterLabel: id.Cluster},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1",
				Kind:       "Pod",
				Name:       id.PodName,
				UID:        types.UID(id.PodUID),
			}},
		},
		Spec: v1alpha1.StorageObservationSpec{Cluster: id.Cluster, Instance: id.PodName, PodUID: id.PodUID},
	}
}
