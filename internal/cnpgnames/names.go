// Package cnpgnames holds the names CloudNativePG gives its objects that
// this add-on reads: labels and annotations of instance pods and PVCs, and
// their values. They are spelled out here, once, from CNPG's
// pkg/utils/labels_annotations.go (v1.30.0), so that no package of the
// add-on imports CNPG's operator code for a few strings.
package cnpgnames

const (
	// ClusterLabel names the Cluster of a pod or PVC.
	ClusterLabel = "cnpg.io/cluster"
	// InstanceNameLabel names the instance of a pod or PVC.
	InstanceNameLabel = "cnpg.io/instanceName"
	// PodRoleLabel is PodRoleInstance on instance pods.
	PodRoleLabel = "cnpg.io/podRole"
	// PVCRoleLabel is PVCRoleData, PVCRoleWAL or PVCRoleTablespace.
	PVCRoleLabel = "cnpg.io/pvcRole"
	// TablespaceNameLabel names the tablespace of a PG_TABLESPACE PVC.
	TablespaceNameLabel = "cnpg.io/tablespaceName"
	// PodSpecAnnotation is the pod spec CNPG built; CNPG decides rollouts
	// by comparing it, so the add-on never touches it.
	PodSpecAnnotation = "cnpg.io/podSpec"

	PodRoleInstance   = "instance"
	PVCRoleData       = "PG_DATA"
	PVCRoleWAL        = "PG_WAL"
	PVCRoleTablespace = "PG_TABLESPACE"
)
