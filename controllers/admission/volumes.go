package admission

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/cnpgnames"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/config"
)

// Paths CNPG mounts in the postgres container (pkg/specs/volumes.go). The
// role of a volume is read from where PostgreSQL mounts it, which is what
// makes it data, WAL or a tablespace, whatever the volume is called.
const (
	postgresContainerName    = "postgres"
	bootstrapContainerName   = "bootstrap-controller"
	dataMountPath            = "/var/lib/postgresql/data"
	walMountPath             = "/var/lib/postgresql/wal"
	tablespaceMountPrefix    = "/var/lib/postgresql/tablespaces/"
	controllerMountPath      = "/controller"
	socketSubPath            = "run"
	socketDir                = controllerMountPath + "/" + socketSubPath
	serviceAccountMountPath  = "/var/run/secrets/kubernetes.io/serviceaccount"
	instanceRoleLabel        = cnpgnames.PodRoleLabel
	instanceRoleLabelValue   = cnpgnames.PodRoleInstance
	clusterLabel             = cnpgnames.ClusterLabel
	instanceNameLabel        = cnpgnames.InstanceNameLabel
	podSpecAnnotation        = cnpgnames.PodSpecAnnotation
	pvcRoleLabel             = cnpgnames.PVCRoleLabel
	tablespaceNameLabel      = cnpgnames.TablespaceNameLabel
	pvcRoleData              = cnpgnames.PVCRoleData
	pvcRoleWAL               = cnpgnames.PVCRoleWAL
	pvcRoleTablespace        = cnpgnames.PVCRoleTablespace
	defaultPostgresUIDAndGID = 26
)

// postgresVolumes finds the PVC-backed PostgreSQL volumes the postgres
// container mounts, data first, then WAL, then tablespaces by name.
// Each is described to the sidecar in sidecar/config's volume syntax, the
// one encoder and decoder of that contract.
func postgresVolumes(pod *corev1.Pod, postgres *corev1.Container) []config.Volume {
	claims := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims[v.Name] = v.PersistentVolumeClaim.ClaimName
		}
	}
	var found []config.Volume
	for _, m := range postgres.VolumeMounts {
		claim, ok := claims[m.Name]
		if !ok || m.SubPath != "" {
			continue
		}
		v := config.Volume{Name: m.Name, PVC: claim, MountPath: m.MountPath}
		switch {
		case m.MountPath == dataMountPath:
			v.Role = v1alpha1.RoleData
		case m.MountPath == walMountPath:
			v.Role = v1alpha1.RoleWAL
		case strings.HasPrefix(m.MountPath, tablespaceMountPrefix) && len(m.MountPath) > len(tablespaceMountPrefix):
			v.Role = v1alpha1.RoleTablespace
			v.Tablespace = strings.TrimPrefix(m.MountPath, tablespaceMountPrefix)
		default:
			continue // a volume the user added: not PostgreSQL's, not ours to measure
		}
		found = append(found, v)
	}
	rank := map[v1alpha1.VolumeRole]int{v1alpha1.RoleData: 0, v1alpha1.RoleWAL: 1, v1alpha1.RoleTablespace: 2}
	sort.SliceStable(found, func(i, j int) bool {
		if rank[found[i].Role] != rank[found[j].Role] {
			return rank[found[i].Role] < rank[found[j].Role]
		}
		return found[i].Tablespace < found[j].Tablespace
	})
	return found
}

// mountAt returns the postgres container's mount at path, if any.
func mountAt(c *corev1.Container, path string) (corev1.VolumeMount, bool) {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return m, true
		}
	}
	return corev1.VolumeMount{}, false
}
