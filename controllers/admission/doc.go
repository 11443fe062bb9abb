// Package admission is the admission side of the controller binary
// (DESIGN §6): three webhooks and their serving certificate.
//
// Decisions are pure and table-tested; the handlers around them are thin:
//
//   - Inject (inject.go): pod + Cluster + policy + SidecarConfig → the pod
//     with the probe as a native sidecar right after CNPG's
//     bootstrap-controller. The pod webhook (pod_webhook.go) answers with
//     one JSON patch operation and never denies: any error admits the pod
//     unchanged. It touches nothing CNPG compares (cnpg.io/podSpec, volumes,
//     other containers). HasSidecar is also how controllers/restarts tells
//     the pods the webhook missed.
//   - EffectiveSize (pvc_size.go): a new CNPG PVC starts at the policy's
//     status.effectiveSizes for its role; the PVC webhook also fails open.
//   - ValidatePolicy (validate.go): what CEL cannot check; the policy
//     webhook fails closed.
//   - PolicyForCluster (lookup.go): which policy governs a cluster, for the
//     webhooks and for controllers/restarts.
//
// # Wiring
//
// cmd/controller calls BindFlags before flag.Parse and Setup(mgr, *opts)
// before mgr.Start. Setup brings its own webhook server (do not also use the
// manager's); every replica serves from the certificate files, and the
// rotator runs on the leader only.
//
// What admission leaves to others: the per-namespace grant that lets the
// sidecars write their observations is controllers/writers'; naming the
// pods without the sidecar (the policy's SidecarMissing condition) and the
// rolling restart for spec.injection.restartExisting are
// controllers/restarts'.
//
// # What it must not do
//
// Deny or delay a CNPG pod or PVC; change anything in a pod but
// spec.initContainers; write policy status; import the reconcilers that
// build on its answers (they import it).
package admission
