// Package plan is the pure decision logic of cnpg-storage-autoscaler
// (DESIGN §8): given one plain Snapshot of a CNPG cluster's volumes, its
// StorageAutoscalePolicy spec, the sidecar observations and the current
// time, Plan says which PVCs to grow now, to what size and why, and for
// every PVC it does not grow, which gate held it back, in words an on-call
// engineer can act on.
//
// What it must not do: import a Kubernetes client, read the clock, log,
// keep state between calls, or iterate a map where order shows. The
// controller builds the Snapshot, calls Plan, patches what Result.Decisions
// says and copies the rest into the policy status. The same Snapshot always
// gives the same Result.
//
// Explain (explain.go) runs the same steps as Plan and reports, for every
// PVC, the verdict of every gate below with its reason (kubectl pgstorage
// explain): an explanation of Plan's own run, never a second opinion.
//
// KubeletNudges (nudge.go) is a second, smaller decision on its own
// NudgeSnapshot: which instance pods to annotate so that kubelet grows a
// filesystem waiting in NodeResizePending now (DESIGN §7).
//
// # Order of work
//
//  1. Facts per PVC: request, capacity, resize state, the statfs figures of
//     its observation and their age, its StorageClass and provider.
//  2. Triggers (trigger.go): planned when used % ≥ trigger.usedPercent, free
//     < trigger.minFree, inodes used % ≥ trigger.inodesUsedPercent, or, with
//     forecast on, the fill rate reaches the trigger within the horizon;
//     emergency when used % ≥ critical.usedPercent, free < critical.minFree,
//     or the volume is full (available 0).
//  3. Target request (target.go): the largest of capacity + step, the size
//     that leaves targetFreePercent free, with forecast on the size that
//     stays under the trigger for the horizon (at most a doubling), and
//     always the size that stays under it, at the faster of the sidecar's
//     recent and 10-minute rates, until the next growth may happen (rate
//     cover, bounded by step.max); converted from filesystem
//     bytes to a request with the overhead ratio observed now; rounded up to
//     the provider's granularity (provider.go); clamped to the limit; never
//     below the current request.
//  4. Role growth: under Uniform sizing the instances of a role share one
//     size, the role's effective size; under PerInstance each PVC is a role
//     of its own for growth and budget purposes.
//  5. Gates (gates.go), in this fixed order; the first that holds is the one
//     reported:
//     - no rule: the role has no rule, growth is disabled, or no limit is set;
//     - dry-run: holds every growth; its reason says what the others would
//     have said;
//     - StorageClass not expandable (or unknown);
//     - observation stale or missing (or older than the PVC's last growth,
//     or its filesystem not yet grown to the PVC's capacity);
//     - growth already in flight;
//     - at limit;
//     - cooldown: planned growth waits the policy cooldown, unless the
//     measured rate reaches the critical threshold before a growth decided
//     at its end could land (it would come as an emergency); any growth,
//     emergency too, waits for the provider's per-volume limit (aws-ebs:
//     4 modifications of a volume in a rolling 24h, counted from
//     status.history and lastGrowth; each only after the previous one
//     completed, which is the in-flight gate);
//     - WAL safety (archive failing, inactive slot retention, or WAL health
//     unknown because PostgreSQL on the primary is unreachable) for planned
//     growth of WAL-bearing volumes, and for emergency growth only with
//     walSafety.blockEmergencyGrowth;
//     - maintenance window (window.go): planned growth outside every window
//     goes to Result.Pending with NotBefore = the next opening; a start the
//     clocks skip opens when the gap ends, one they repeat opens once, at
//     the first, and a window lasts its duration in elapsed time;
//     - budget (budget.go): rolling 24h; planned growth may use
//     maxActionsPerDay − emergencyReserve, emergency growth whatever is left
//     of maxActionsPerDay.
//
// # Choices where DESIGN is silent
//
//   - WAL-bearing volume: an instance's WAL PVC, or its data PVC when the
//     instance has no WAL PVC in the snapshot.
//   - WAL health is read from the primary's observation (Snapshot.Primary,
//     else the fresh observation whose role is primary). No fresh
//     observation of the primary, or PostgreSQL unreachable there, means
//     WAL health unknown: planned growth of WAL-bearing volumes waits, and
//     says so.
//   - Inactive slot retention is the largest retainedBytes of an inactive
//     slot that is not CNPG's own (_cnpg_ prefix or CNPGManaged): retained
//     WAL overlaps between slots, so the largest is what is held on disk.
//   - Under Uniform sizing a role grows when at least one of its PVCs
//     triggers and passes its own gates (storage class, observation, in
//     flight, limit, cooldown); that PVC drives the growth. The role's target
//     is the largest target of its drivers and the largest current request;
//     every PVC of the role below it grows, followers needing no trigger and
//     no fresh observation of their own (their size is a request, not a
//     measurement) and waiting only for their storage class, their own
//     growth in flight and the provider's minimum cooldown.
//   - When an emergency growth of a role happens, the planned needs of its
//     other drivers are taken along: one action, not two.
//   - A PVC below its role's current effective size (a new replica the PVC
//     webhook missed, or the rest of a role growth whose first patches
//     landed in an earlier reconcile) is raised to it at once: a catch-up
//     (Decision.CatchUp), which is no budget action, needs no trigger and
//     ignores windows and the policy cooldown, because a failover onto a
//     smaller disk is the risk uniform sizing exists to remove.
//   - A budget action recorded for the same role, tablespace and target
//     (and, under PerInstance, the same instance: BudgetAction.Instance)
//     in the last 24h is the same growth continuing and is not charged
//     again.
//   - Budget: planned growth needs plannedUsed < max − reserve and
//     totalUsed < max; emergency growth needs totalUsed < max. Emergency
//     growths are charged first, then planned; within a kind WAL before data
//     before tablespaces (by name).
//   - An action's recorded time is the plan time rounded up to the whole
//     second: metav1.Time keeps seconds only, and rounding down would let
//     an action leave the rolling window early.
//   - A filesystem smaller than 85 % of its PVC's capacity has not been
//     grown yet by kubelet (XFS and ext4 overhead stays well below 15 %):
//     its figures would overstate the need, so no growth is decided on it.
//   - Thresholds at or below 0 % are off (the CRD never lets them through;
//     hand-built specs might); step.max below step.min counts as step.min.
//   - An invalid maintenance window (schedule or time zone) never opens; if
//     no window is open the reason names the broken one.
package plan
