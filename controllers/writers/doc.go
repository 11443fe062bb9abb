// Package writers decides who may write StorageObservations: per namespace,
// one Role and one RoleBinding named pgstorage-observation-writer that grant
// the instance ServiceAccount of every CNPG cluster with a policy (CNPG names
// it after the cluster) the sidecar's verbs on observations (Rules), and that
// go again with the namespace's last policy.
//
// RBAC cannot name one object per pod; the ValidatingAdmissionPolicy in
// deploy/admission/observation-ownership.yaml narrows the grant to the
// observation named after the writing pod, and
// deploy/admission/observation-writer-rbac.yaml keeps the controller's own
// Role writes to this one name. Both are tested here with real pod-bound
// tokens (ownership_test.go).
//
// # Wiring
//
// cmd/controller calls Setup(mgr) before mgr.Start; the reconciler runs on
// the leader only. The controller's ServiceAccount needs create, get, update
// and delete on roles and rolebindings, and itself holds the Rules it grants
// (RBAC's escalation check); deploy/helm's TestRBACIsLeastPrivilege reads
// Name and Rules from here.
//
// # What it must not do
//
// Write any Role or RoleBinding but the one pair per namespace; keep a grant
// in a namespace without a policy; read Roles through the cache (it would
// hold every Role of the cluster for the sake of one per policed namespace).
package writers
