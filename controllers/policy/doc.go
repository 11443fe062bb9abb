// Package policy is the StorageAutoscalePolicy controller (DESIGN §7): one
// reconcile per policy, in four steps, each in a file of its own.
//
//  1. snapshot.go reads the policy, its CNPG Cluster, the cluster's PVCs,
//     instance pods, StorageObservations and StorageClasses into one value.
//     No client call happens after it until act. Snapshot exports the same
//     read for kubectl pgstorage, through a reader of the API server, and
//     View.Status the status report would write for a plan of it.
//  2. plan.Plan decides (controllers/plan, pure; no decision is made here).
//  3. act.go patches PVC requests to the planner's absolute targets (one
//     merge patch per PVC, guarded by the resourceVersion read in the
//     snapshot, so a patch never lowers a PVC that changed meanwhile),
//     raises the Cluster's storage sizes when syncClusterSpec asks for it,
//     and emits Events on the Cluster and the PVC. nudge.go sets the
//     pgstorage.io/resize-nudge annotation on the pod that mounts a PVC
//     waiting in NodeResizePending (plan.KubeletNudges decides), so that
//     kubelet syncs the pod and grows the filesystem now.
//  4. report.go writes the policy status (rows, effective sizes, pending
//     queue, budget, history, conditions) with a conflict-safe merge patch
//     of the status subresource, and asks to be requeued at the next time
//     the plan can change by itself.
//
// Everything needed to resume lives in the API: the PVCs (request versus
// status.capacity, allocatedResourceStatuses, resize conditions) and the
// policy status (budget actions, history with each growth's start time and
// outcome), and the instance pods (the nudge annotation records the growths
// kubelet was already nudged for). A restarted controller rebuilds the same
// view; a growth in flight is seen as in flight and never doubled, nor
// nudged twice.
//
// # Time
//
// The reconciler reads time only through its Clock field; the binary always
// uses the real clock (RealClock). Tests inject a clock they move, so that
// windows, cooldowns, staleness and the resize timeout are exercised on the
// real API server without waiting. There is deliberately no clock-offset
// flag: end-to-end tests that need a maintenance window to open soon create
// a window whose cron schedule opens a minute or two from now (in UTC).
//
// # What it must not do
//
// Decide anything the planner decides; keep state only in memory (the
// metrics' bookkeeping is the one exception: it is rebuilt by the next
// reconcile); patch a PVC or a pod in DryRun mode; change anything on a
// pod but the nudge annotation; detect the sidecar in pods
// (Config.MissingSidecars is the hook for the admission work).
package policy
