package cnpgtest

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// NewPolicy is a policy for cluster, valid for the cluster's shape, not yet
// created.
func NewPolicy(namespace, name, cluster string, shape Shape) *v1alpha1.StorageAutoscalePolicy {
	p := &v1alpha1.StorageAutoscalePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: v1alpha1.StorageAutoscalePolicySpec{
			ClusterRef: v1alpha1.ClusterReference{Name: cluster},
			Volumes:    v1alpha1.VolumesSpec{Data: v1alpha1.VolumePolicy{Limit: ptr.To(resource.MustParse("10Gi"))}},
		},
	}
	if shape.WAL {
		p.Spec.Volumes.WAL = &v1alpha1.VolumePolicy{Limit: ptr.To(resource.MustParse("5Gi"))}
	} else {
		p.Spec.WALSafety.AcknowledgeSingleVolume = true
	}
	if len(shape.Tablespaces) > 0 {
		p.Spec.Volumes.Tablespaces = &v1alpha1.TablespacesSpec{Default: &v1alpha1.VolumePolicy{Limit: ptr.To(resource.MustParse("5Gi"))}}
	}
	return p
}
