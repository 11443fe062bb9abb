package admission

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	"github.com/cloudnative-pg/cloudnative-pg/pkg/specs"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// clusterShape is the storage layout of a test cluster.
type clusterShape struct {
	wal         bool
	tablespaces []string
	postgresUID int64
	limits      bool // CPU and memory limits on CNPG's own containers
}

func newCluster(namespace, name string, shape clusterShape) *cnpgv1.Cluster {
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
	if shape.wal {
		c.Spec.WalStorage = &cnpgv1.StorageConfiguration{Size: "1Gi"}
	}
	for _, ts := range shape.tablespaces {
		c.Spec.Tablespaces = append(c.Spec.Tablespaces, cnpgv1.TablespaceConfiguration{
			Name: ts, Storage: cnpgv1.StorageConfiguration{Size: "1Gi"},
		})
	}
	if shape.postgresUID != 0 {
		c.Spec.PostgresUID, c.Spec.PostgresGID = shape.postgresUID, shape.postgresUID
	}
	if shape.limits {
		c.Spec.Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
		}
	}
	return c
}

// newPolicy is a policy valid for the cluster's shape.
func newPolicy(namespace, name, cluster string, shape clusterShape) *v1alpha1.StorageAutoscalePolicy {
	p := &v1alpha1.StorageAutoscalePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: v1alpha1.StorageAutoscalePolicySpec{
			ClusterRef: v1alpha1.ClusterReference{Name: cluster},
			Volumes:    v1alpha1.VolumesSpec{Data: v1alpha1.VolumePolicy{Limit: ptr.To(resource.MustParse("10Gi"))}},
		},
	}
	if shape.wal {
		p.Spec.Volumes.WAL = &v1alpha1.VolumePolicy{Limit: ptr.To(resource.MustParse("5Gi"))}
	} else {
		p.Spec.WALSafety.AcknowledgeSingleVolume = true
	}
	if len(shape.tablespaces) > 0 {
		p.Spec.Volumes.Tablespaces = &v1alpha1.TablespacesSpec{Default: &v1alpha1.VolumePolicy{Limit: ptr.To(resource.MustParse("5Gi"))}}
	}
	return p
}

// instancePod is the pod CNPG itself would create for the cluster's first
// instance, from CNPG's own builder.
func instancePod(t *testing.T, cluster *cnpgv1.Cluster) *corev1.Pod {
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

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func clientInNamespace(ns string) client.ListOption { return client.InNamespace(ns) }

func metav1Duration(s string) metav1.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return metav1.Duration{Duration: d}
}
