package policy

// CNPG's labels (github.com/cloudnative-pg/cloudnative-pg/pkg/utils),
// spelled out so that this package does not import CNPG's operator code.
const (
	labelCluster        = "cnpg.io/cluster"
	labelPVCRole        = "cnpg.io/pvcRole"
	labelInstanceName   = "cnpg.io/instanceName"
	labelTablespaceName = "cnpg.io/tablespaceName"
	labelPodRole        = "cnpg.io/podRole"

	pvcRoleData       = "PG_DATA"
	pvcRoleWAL        = "PG_WAL"
	pvcRoleTablespace = "PG_TABLESPACE"
	podRoleInstance   = "instance"
)
