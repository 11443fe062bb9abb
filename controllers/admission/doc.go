// Package admission is the admission side of the controller binary
// (DESIGN §6): three webhooks, the observation-ownership RBAC, the serving
// certificate, and the rolling restart of pods that lack the probe sidecar.
//
// Decisions are pure and table-tested; the handlers and reconcilers around
// them are thin:
//
//   - Inject (inject.go): pod + Cluster + policy + SidecarConfig → the pod
//     with the probe as a native sidecar right after CNPG's
//     bootstrap-controller. The pod webhook (pod_webhook.go) answers with
//     one JSON patch operation and never denies: any error admits the pod
//     unchanged. It touches nothing CNPG compares (cnpg.io/podSpec, volumes,
//     other containers).
//   - EffectiveSize (pvc_size.go): a new CNPG PVC starts at the policy's
//     status.effectiveSizes for its role; the PVC webhook also fails open.
//   - ValidatePolicy (validate.go): what CEL cannot check; the policy
//     webhook fails closed.
//   - SidecarMissing and DecideRestart (sidecar_missing.go).
//
// # Wiring
//
// cmd/controller calls BindFlags before flag.Parse and Setup(mgr, *opts)
// before mgr.Start. Setup brings its own webhook server (do not also use the
// manager's); every replica serves from the certificate files, and the
// rotator and both reconcilers run on the leader only.
//
// controllers/policy owns the policy status. It reports SidecarMissing by
// setting policy.Config.MissingSidecars = admission.SidecarMissing (message:
// SidecarMissingMessage). The rolling restart for
// spec.injection.restartExisting is done here, by the sidecar-restarts
// reconciler: it only annotates the Cluster (CNPG's
// kubectl.kubernetes.io/restartedAt and our pgstorage.io/last-restart, in
// one patch), at most once an hour, and never writes the policy.
//
// # What it must not do
//
// Deny or delay a CNPG pod or PVC; change anything in a pod but
// spec.initContainers; write policy status; hold state only in memory (the
// last restart is an annotation on the Cluster).
package admission
