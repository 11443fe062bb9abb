//go:build e2e

package suite

import (
	"context"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
)

type cnpgClusterList = cnpgv1.ClusterList

// newCluster creates a CNPG Cluster of the target's storage class and image,
// with WAL settings sized for its WAL volume (E2E.md).
func newCluster(ctx context.Context, ns, name string, instances int, walSize string) *cnpgv1.Cluster {
	pg := framework.NewCluster(framework.ClusterSpec{
		Name: name, Namespace: ns, Instances: instances, Image: env.postgresImage,
		StorageClass: env.storageClass, DataSize: "1Gi", WALSize: walSize,
	})
	Expect(kube.Client.Create(ctx, pg)).To(Succeed())
	return pg
}

// newPolicy builds a policy for cluster with the CRD defaults filled in;
// edit lets a spec change what it needs.
func newPolicy(ns, cluster string, edit func(*v1alpha1.StorageAutoscalePolicySpec)) *v1alpha1.StorageAutoscalePolicy {
	limit := func(s string) *resource.Quantity { q := resource.MustParse(s); return &q }
	p := &v1alpha1.StorageAutoscalePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: cluster, Namespace: ns},
		Spec: v1alpha1.StorageAutoscalePolicySpec{
			ClusterRef: v1alpha1.ClusterReference{Name: cluster},
			Volumes: v1alpha1.VolumesSpec{
				Data: v1alpha1.VolumePolicy{Limit: limit("4Gi")},
				WAL:  &v1alpha1.VolumePolicy{Limit: limit("4Gi")},
			},
		},
	}
	if edit != nil {
		edit(&p.Spec)
	}
	p.Spec.Default()
	return p
}

func waitReady(ctx context.Context, pg *cnpgv1.Cluster) {
	Expect(kube.WaitClusterReady(ctx, pg, timeout(6*time.Minute))).To(Succeed())
}
