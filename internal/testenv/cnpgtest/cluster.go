// Package cnpgtest builds the CNPG objects integration tests start from: a
// Cluster of a given storage shape, the instance pod CNPG itself would
// create for it (from CNPG's own builder), and a policy valid for the shape.
//
// It is apart from testenv because CNPG's pod builder brings much of CNPG's
// operator code with it, which only the packages that handle pods need.
package cnpgtest

import (
	"context"
	"testing"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	"github.com/cloudnative-pg/cloudnative-pg/pkg/specs"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Shape is the storage layout of a test cluster.
type Shape struct {
	WAL         bool
	Tablespaces []string
	PostgresUID int64
	// Limits puts CPU and memory limits on CNPG's own containers.
	Limits bool
}

// NewCluster is a Cluster of the shape, not yet created.
func NewCluster(namespace, name string, shape Shape) *cnpgv1.Cluster {
	c := &cnpgv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: cnpgv1.ClusterSpec{
			Instances:            1,
			ImageName:            "ghcr.io/cloudnative-pg/postgresql:17.5",
			StorageConfiguration: cnpgv1.StorageConfiguration{Size: "1Gi"},
			// A projected volume: one of the things CNPG checks on the live pod.
			ProjectedVolumeTemplate: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
				ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "extra"}},
			}}},
		},
	}
	if shape.WAL {
		c.Spec.WalStorage = &cnpgv1.StorageConfiguration{Size: "1Gi"}
	}
	for _, ts := range shape.Tablespaces {
		c.Spec.Tablespaces = append(c.Spec.Tablespaces, cnpgv1.TablespaceConfiguration{
			Name: ts, Storage: cnpgv1.StorageConfiguration{Size: "1Gi"},
		})
	}
	if shape.PostgresUID != 0 {
		c.Spec.PostgresUID, c.Spec.PostgresGID = shape.PostgresUID, shape.PostgresUID
	}
	if shape.Limits {
		c.Spec.Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
		}
	}
	return c
}

// InstancePod is the pod CNPG itself would create for the cluster's first
// instance, from CNPG's own builder.
func InstancePod(t *testing.T, cluster *cnpgv1.Cluster) *corev1.Pod {
	t.Helper()
	// CNPG takes the postgres image from the Cluster's status, which the
	// operator fills; no operator runs here.
	built := cluster.DeepCopy()
	built.Status.Image = built.Spec.ImageName
	pod, err := specs.NewInstance(context.Background(), *built, 1, true)
	if err != nil {
		t.Fatalf("CNPG's specs.NewInstance: %v", err)
	}
	pod.Namespace = cluster.Namespace
	return pod
}
