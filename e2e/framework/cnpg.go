package framework

import (
	"context"
	"fmt"
	"strings"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ClusterSpec is what a test wants of a CNPG Cluster.
type ClusterSpec struct {
	Name         string
	Namespace    string
	Instances    int
	Image        string
	StorageClass string
	DataSize     string
	WALSize      string // empty: no separate WAL volume
	// Tablespaces are created by CNPG, each on a volume of its own of
	// TablespaceSize (default 1Gi).
	Tablespaces    []string
	TablespaceSize string
	// Sized so that every fill of a 1 GiB WAL volume is the test's own:
	// CNPG's defaults (max_wal_size 1GB, wal_keep_size 512MB) overflow it.
	MaxWALSize  string
	WALKeepSize string
}

// NewCluster builds a CNPG Cluster from spec.
func NewCluster(spec ClusterSpec) *cnpgv1.Cluster {
	if spec.MaxWALSize == "" {
		spec.MaxWALSize = "256MB"
	}
	if spec.WALKeepSize == "" {
		spec.WALKeepSize = "128MB"
	}
	class := spec.StorageClass
	c := &cnpgv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Namespace: spec.Namespace},
		Spec: cnpgv1.ClusterSpec{
			Instances: spec.Instances,
			ImageName: spec.Image,
			PostgresConfiguration: cnpgv1.PostgresConfiguration{Parameters: map[string]string{
				"max_wal_size": spec.MaxWALSize, "wal_keep_size": spec.WALKeepSize, "min_wal_size": "80MB",
				// A new replica's pg_basebackup waits for a spread
				// checkpoint: 4.5 min with the default 5 min timeout.
				"checkpoint_timeout": "30s",
			}},
			StorageConfiguration: cnpgv1.StorageConfiguration{StorageClass: &class, Size: spec.DataSize},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
			},
		},
	}
	if spec.WALSize != "" {
		c.Spec.WalStorage = &cnpgv1.StorageConfiguration{StorageClass: &class, Size: spec.WALSize}
	}
	if spec.TablespaceSize == "" {
		spec.TablespaceSize = "1Gi"
	}
	for _, name := range spec.Tablespaces {
		c.Spec.Tablespaces = append(c.Spec.Tablespaces, cnpgv1.TablespaceConfiguration{
			Name: name, Storage: cnpgv1.StorageConfiguration{StorageClass: &class, Size: spec.TablespaceSize},
		})
	}
	return c
}

// WaitClusterReady waits until every instance of the Cluster is ready.
func (c *Cluster) WaitClusterReady(ctx context.Context, cluster *cnpgv1.Cluster, timeout time.Duration) error {
	return Eventually(ctx, fmt.Sprintf("CNPG Cluster %s/%s ready", cluster.Namespace, cluster.Name), timeout, 2*time.Second,
		func(ctx context.Context) error {
			current := &cnpgv1.Cluster{}
			if err := c.Client.Get(ctx, client.ObjectKeyFromObject(cluster), current); err != nil {
				return err
			}
			// The instances the Cluster asks for now: a spec that scaled it
			// need not pass the new count along.
			if current.Status.ReadyInstances != current.Spec.Instances || current.Status.Phase != cnpgv1.PhaseHealthy {
				return fmt.Errorf("phase %q, %d/%d instances ready", current.Status.Phase,
					current.Status.ReadyInstances, current.Spec.Instances)
			}
			return nil
		})
}

// PrimaryPod is the name of the Cluster's current primary.
func (c *Cluster) PrimaryPod(ctx context.Context, cluster *cnpgv1.Cluster) (string, error) {
	current := &cnpgv1.Cluster{}
	if err := c.Client.Get(ctx, client.ObjectKeyFromObject(cluster), current); err != nil {
		return "", err
	}
	if current.Status.CurrentPrimary == "" {
		return "", fmt.Errorf("cluster %s has no primary yet", cluster.Name)
	}
	return current.Status.CurrentPrimary, nil
}

// PSQL runs SQL as postgres inside an instance's postgres container.
func (c *Cluster) PSQL(ctx context.Context, namespace, pod, sql string) (string, error) {
	out, err := c.Exec(ctx, namespace, pod, "postgres", "psql", "-XAtq", "-d", "postgres", "-c", sql)
	return strings.TrimSpace(out), err
}
