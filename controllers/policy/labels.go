package policy

import "github.com/pgstorage/cnpg-storage-autoscaler/internal/cnpgnames"

// CNPG's names, from the one place that spells them out.
const (
	labelCluster        = cnpgnames.ClusterLabel
	labelPVCRole        = cnpgnames.PVCRoleLabel
	labelInstanceName   = cnpgnames.InstanceNameLabel
	labelTablespaceName = cnpgnames.TablespaceNameLabel
	labelPodRole        = cnpgnames.PodRoleLabel

	pvcRoleData       = cnpgnames.PVCRoleData
	pvcRoleWAL        = cnpgnames.PVCRoleWAL
	pvcRoleTablespace = cnpgnames.PVCRoleTablespace
	podRoleInstance   = cnpgnames.PodRoleInstance
)
