// Package restarts deals with the CNPG instance pods that run without the
// probe sidecar: created while the webhook was down, or before their
// cluster had a policy. It names them (SidecarMissing, the hook
// controllers/policy calls for the SidecarMissing condition) and, for
// policies with spec.injection.restartExisting, asks CNPG for a rolling
// restart so that the webhook injects the probe into the new pods.
//
// DecideRestart (decide.go) is pure and table-tested: at most once per
// RestartInterval, only while the cluster is healthy, and never again once
// a pod created after the last restart still lacks the probe (then the
// webhook is what needs fixing). The reconciler (reconciler.go) only
// annotates the Cluster: CNPG's kubectl.kubernetes.io/restartedAt and our
// pgstorage.io/last-restart, in one optimistically locked patch.
//
// Whether a pod has the probe, and which policy governs a cluster, are the
// webhook's own answers (admission.HasSidecar, admission.PolicyForCluster):
// the restarts and the injection never disagree.
//
// # Wiring
//
// cmd/controller calls Setup(mgr) before mgr.Start, and sets
// policy.Config.MissingSidecars = SidecarMissing. The reconciler runs on the
// leader only; it needs get, list, watch and patch on CNPG Clusters
// (deploy/admission/cluster-storage.yaml lets it change no annotation but
// these two) and get, list, watch on pods.
//
// # What it must not do
//
// Write the policy or its status; touch a pod; restart a cluster that is
// not healthy; hold state only in memory (the last restart is an
// annotation on the Cluster, so the hourly rule survives a restart of the
// controller).
package restarts
