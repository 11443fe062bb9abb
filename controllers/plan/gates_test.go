package plan

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// gateCase is one scenario and what the plan must say about one PVC.
type gateCase struct {
	name  string
	build func(t *testing.T) Snapshot
	pvc   string
	// wantTo is the size the PVC grows to now, in GiB; 0: not grown.
	wantTo     int64
	wantKind   v1alpha1.GrowthKind
	wantGate   Gate
	wantState  v1alpha1.VolumeState
	wantReason string
}

func (c gateCase) run(t *testing.T) {
	t.Helper()
	snapshot := c.build(t)
	result := Plan(snapshot)
	// kubectl pgstorage explain tells every gate case's story as Plan does.
	if disagreement := explanationDisagrees(snapshot); disagreement != "" {
		t.Error(disagreement)
	}
	decision := decisionFor(result, c.pvc)
	row := rowFor(t, result, c.pvc)
	switch {
	case c.wantTo == 0 && decision != nil:
		t.Errorf("%s grown to %s, want it held (row: %s %s)", c.pvc, decision.To.String(), row.State, row.Reason)
	case c.wantTo != 0 && decision == nil:
		t.Errorf("%s not grown, want it grown to %dGi (row: %s %s: %s)", c.pvc, c.wantTo, row.State, row.Gate, row.Reason)
	case c.wantTo != 0 && bytesOf(decision.To) != gi(c.wantTo):
		t.Errorf("%s grown to %s, want %dGi", c.pvc, decision.To.String(), c.wantTo)
	case c.wantTo != 0 && c.wantKind != "" && decision.Kind != c.wantKind:
		t.Errorf("%s grown as %s, want %s", c.pvc, decision.Kind, c.wantKind)
	}
	if row.Gate != c.wantGate {
		t.Errorf("%s gate = %q, want %q (reason: %s)", c.pvc, row.Gate, c.wantGate, row.Reason)
	}
	if c.wantState != "" && row.State != c.wantState {
		t.Errorf("%s state = %s, want %s (reason: %s)", c.pvc, row.State, c.wantState, row.Reason)
	}
	if !strings.Contains(row.Reason, c.wantReason) {
		t.Errorf("%s reason = %q, want it to contain %q", c.pvc, row.Reason, c.wantReason)
	}
}

// oneInstance is orders-1, primary, with a 50Gi data volume usedPercent full
// and a 10Gi WAL volume walUsedPercent full.
func oneInstance(t testing.TB, usedPercent, walUsedPercent float64) *snapshotBuilder {
	t.Helper()
	return newSnapshot(t).instance("orders-1", v1alpha1.InstancePrimary).
		data("orders-1", 50, usedPercent).wal("orders-1", 10, walUsedPercent)
}

func nightlyWindow(spec *v1alpha1.StorageAutoscalePolicySpec) {
	spec.MaintenanceWindows = []v1alpha1.MaintenanceWindow{{
		Schedule: "0 2 * * *", Duration: metav1.Duration{Duration: 2 * time.Hour}, TimeZone: "UTC",
	}}
}

func failingArchive(status *v1alpha1.StorageObservationStatus) {
	lastArchived := metav1.NewTime(time.Date(2026, 5, 1, 9, 31, 0, 0, time.UTC))
	lastFailed := metav1.NewTime(time.Date(2026, 5, 1, 9, 58, 0, 0, time.UTC))
	status.Postgres.Archiving = &v1alpha1.ArchivingObservation{
		Enabled: true, Healthy: false, LastArchivedAt: &lastArchived,
		LastFailedAt: &lastFailed, LastFailedWAL: "0000000100000000000000A1",
	}
}

func TestGates(t *testing.T) {
	cases := []gateCase{
		{
			name:  "no gate: planned growth above the trigger grows now",
			build: func(t *testing.T) Snapshot { return oneInstance(t, 85, 10).build() },
			pvc:   "orders-1", wantTo: 60, wantKind: v1alpha1.GrowthPlanned,
			wantState: v1alpha1.VolumeGrowing, wantReason: "usedPercent 85 >= 80",
		},
		{
			name: "no gate: a planned growth that goes anyway stays planned, its critical threshold seconds away or not",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).fillingNow("orders-1", "orders-1", 500<<20).build()
			},
			pvc: "orders-1", wantTo: 60, wantKind: v1alpha1.GrowthPlanned,
			wantState: v1alpha1.VolumeGrowing, wantReason: "usedPercent 85 >= 80",
		},
		{
			name: "no rule: a tablespace without a rule is never grown",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 10).volume("orders-1", v1alpha1.RoleTablespace, "idx", 10, 99).
					policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) { spec.Volumes.Tablespaces = nil }).build()
			},
			pvc: "orders-1-tbs-idx", wantGate: GateNoRule, wantState: v1alpha1.VolumeIdle, wantReason: "set spec.volumes.tablespaces",
		},
		{
			name: "no rule: disabled growth is never grown",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 99).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
					spec.Volumes.WAL.Enabled = new(false)
				}).build()
			},
			pvc: "orders-1-wal", wantGate: GateNoRule, wantReason: "spec.volumes.wal.enabled: false",
		},
		{
			name: "no rule: a role without a limit is never grown",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 99).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
					spec.Volumes.WAL.Limit = nil
				}).build()
			},
			pvc: "orders-1-wal", wantGate: GateNoRule, wantReason: "set spec.volumes.wal.limit",
		},
		{
			name: "dry-run holds growth and says what would happen",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
					spec.Mode = v1alpha1.ModeDryRun
				}).build()
			},
			pvc: "orders-1", wantGate: GateDryRun, wantState: v1alpha1.VolumeBlocked, wantReason: "would be: growing from 50Gi to 60Gi",
		},
		{
			name: "dry-run holds emergency growth too",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 99, 10).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
					spec.Mode = v1alpha1.ModeDryRun
				}).build()
			},
			pvc: "orders-1", wantGate: GateDryRun, wantReason: "dry run",
		},
		{
			name: "storage class not expandable holds growth",
			build: func(t *testing.T) Snapshot {
				b := oneInstance(t, 85, 10)
				b.snapshot.StorageClasses[0].AllowVolumeExpansion = false
				return b.build()
			},
			pvc: "orders-1", wantGate: GateStorageClass, wantState: v1alpha1.VolumeBlocked, wantReason: "allowVolumeExpansion: false",
		},
		{
			name: "unknown storage class holds growth",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).pvc("orders-1", func(pvc *PVC) { pvc.StorageClass = "gone" }).build()
			},
			pvc: "orders-1", wantGate: GateStorageClass, wantReason: "StorageClass gone not found",
		},
		{
			name: "stale observation: no growth decided on old figures",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 99, 10).observedAgo("orders-1", 5*time.Minute).build()
			},
			pvc: "orders-1", wantState: v1alpha1.VolumeStale, wantGate: GateObservation, wantReason: "is 5m old (observationMaxAge 3m)",
		},
		{
			name: "missing observation: the sidecar is named",
			build: func(t *testing.T) Snapshot {
				b := oneInstance(t, 85, 10)
				b.snapshot.Observations = nil
				return b.build()
			},
			pvc: "orders-1", wantGate: GateObservation, wantState: v1alpha1.VolumeStale, wantReason: "probe sidecar",
		},
		{
			name: "observation older than the last growth waits for a new measurement",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).pvc("orders-1", func(pvc *PVC) { pvc.LastGrowth = testNow.Add(-10 * time.Second) }).build()
			},
			pvc: "orders-1", wantGate: GateObservation, wantState: v1alpha1.VolumeGrowing, wantReason: "waiting for the probe sidecar to measure",
		},
		{
			name: "in flight: request above capacity is not grown again",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).pvc("orders-1", func(pvc *PVC) { pvc.Request = giQuantity(60) }).build()
			},
			pvc: "orders-1", wantGate: GateInFlight, wantState: v1alpha1.VolumeGrowing, wantReason: "resize to 60Gi in progress (capacity 50Gi)",
		},
		{
			name: "in flight: an allocated resource status is not grown again",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 99, 10).pvc("orders-1", func(pvc *PVC) { pvc.AllocatedResourceStatus = "NodeResizePending" }).build()
			},
			pvc: "orders-1", wantGate: GateInFlight, wantState: v1alpha1.VolumeGrowing, wantReason: "NodeResizePending",
		},
		{
			name: "in flight: a resize condition is not grown again",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).pvc("orders-1", func(pvc *PVC) {
					pvc.ResizeConditions = []ResizeCondition{{Type: "FileSystemResizePending"}}
				}).build()
			},
			pvc: "orders-1", wantGate: GateInFlight, wantReason: "FileSystemResizePending",
		},
		{
			name: "in flight: an infeasible resize blocks with the driver's words",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).pvc("orders-1", func(pvc *PVC) {
					pvc.Request = giQuantity(60)
					pvc.AllocatedResourceStatus = "ControllerResizeInfeasible"
					pvc.ResizeConditions = []ResizeCondition{{Type: "ControllerResizeError", Message: "disk quota exceeded"}}
				}).build()
			},
			pvc: "orders-1", wantGate: GateInFlight, wantState: v1alpha1.VolumeBlocked, wantReason: "failed (ControllerResizeInfeasible): disk quota exceeded",
		},
		{
			name: "in flight: a retryable resize error is in progress with the driver's words",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).pvc("orders-1", func(pvc *PVC) {
					pvc.Request = giQuantity(60)
					pvc.AllocatedResourceStatus = "ControllerResizeInProgress"
					pvc.ResizeConditions = []ResizeCondition{{Type: "ControllerResizeError", Message: "Rate exceeded"}}
				}).build()
			},
			pvc: "orders-1", wantGate: GateInFlight, wantState: v1alpha1.VolumeGrowing, wantReason: "resize to 60Gi in progress (capacity 50Gi, ControllerResizeInProgress): Rate exceeded",
		},
		{
			name: "in flight: an error condition alone past the resize timeout is stuck, with the driver's words",
			build: func(t *testing.T) Snapshot {
				b := oneInstance(t, 85, 10).pvc("orders-1", func(pvc *PVC) {
					pvc.Request = giQuantity(60)
					pvc.LastGrowth = testNow.Add(-11 * time.Minute)
					pvc.ResizeConditions = []ResizeCondition{{Type: "ControllerResizeError", Message: "disk quota exceeded"}}
				})
				b.snapshot.ResizeTimeout = metav1.Duration{Duration: 10 * time.Minute}
				return b.build()
			},
			pvc: "orders-1", wantGate: GateInFlight, wantState: v1alpha1.VolumeBlocked,
			wantReason: "resize to 60Gi stuck in ControllerResizeError for 11m (resize timeout 10m); capacity is 50Gi: disk quota exceeded",
		},
		{
			name: "in flight: a filesystem kubelet has not grown yet is not grown again",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).pvc("orders-1", func(pvc *PVC) {
					pvc.Request, pvc.Capacity = giQuantity(60), giQuantity(60)
				}).build()
			},
			pvc: "orders-1", wantGate: GateInFlight, wantReason: "waiting for kubelet to grow the filesystem",
		},
		{
			name: "at limit: a full volume at its limit is reported, not grown",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
					spec.Volumes.Data.Limit = quantityPtr(giQuantity(50))
				}).build()
			},
			pvc: "orders-1", wantGate: GateLimit, wantState: v1alpha1.VolumeAtLimit, wantReason: "at limit 50Gi",
		},
		{
			name: "cooldown: planned growth waits the policy cooldown",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).pvc("orders-1", func(pvc *PVC) { pvc.LastGrowth = testNow.Add(-2 * time.Minute) }).
					observedAgo("orders-1", 10*time.Second).build()
			},
			pvc: "orders-1", wantGate: GateCooldown, wantState: v1alpha1.VolumeBlocked, wantReason: "next growth possible after 10:03 UTC (spec.volumes.data.cooldown 5m)",
		},
		{
			// Issue #21: waiting would only turn this growth into an
			// emergency at 95 %, with 15 % less room to react in; it is one
			// action either way, and this one is sized for the rate.
			name: "cooldown: a fill that reaches the critical threshold before the cooldown ends grows now",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).pvc("orders-1", func(pvc *PVC) { pvc.LastGrowth = testNow.Add(-2 * time.Minute) }).
					observedVolume("orders-1", func(v *v1alpha1.ObservedVolume) { v.RecentFillRateBytesPerSecond = 100 << 20 }).
					policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
						spec.Volumes.Data.Limit = quantityPtr(giQuantity(500))
					}).build()
			},
			pvc: "orders-1", wantTo: 95, wantKind: v1alpha1.GrowthPlanned, wantState: v1alpha1.VolumeGrowing,
		},
		{
			name: "cooldown: a fill that reaches the critical threshold only after the cooldown ends waits",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).pvc("orders-1", func(pvc *PVC) { pvc.LastGrowth = testNow.Add(-2 * time.Minute) }).
					observedVolume("orders-1", func(v *v1alpha1.ObservedVolume) { v.RecentFillRateBytesPerSecond = 1 << 20 }).build()
			},
			pvc: "orders-1", wantGate: GateCooldown, wantState: v1alpha1.VolumeBlocked, wantReason: "next growth possible after 10:03 UTC (spec.volumes.data.cooldown 5m)",
		},
		{
			name: "cooldown: a fill whose critical threshold is seconds away grows now, as an emergency",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).pvc("orders-1", func(pvc *PVC) { pvc.LastGrowth = testNow.Add(-2 * time.Minute) }).
					fillingNow("orders-1", "orders-1", 500<<20).build()
			},
			pvc: "orders-1", wantTo: 60, wantKind: v1alpha1.GrowthEmergency, wantState: v1alpha1.VolumeGrowing,
		},
		{
			name: "cooldown: emergency growth ignores the policy cooldown",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 99, 10).pvc("orders-1", func(pvc *PVC) { pvc.LastGrowth = testNow.Add(-2 * time.Minute) }).
					observedAgo("orders-1", 10*time.Second).build()
			},
			pvc: "orders-1", wantTo: 67, wantKind: v1alpha1.GrowthEmergency, wantState: v1alpha1.VolumeGrowing,
		},
		{
			name: "aws-ebs: emergency growth an hour after a planned one grows (no fixed 6h wait)",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 99, 10).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
					spec.Provider = v1alpha1.ProviderAWSEBS
				}).pvc("orders-1", func(pvc *PVC) { pvc.LastGrowth = testNow.Add(-time.Hour) }).grown(time.Hour, "orders-1").build()
			},
			pvc: "orders-1", wantTo: 67, wantKind: v1alpha1.GrowthEmergency, wantState: v1alpha1.VolumeGrowing,
		},
		{
			name: "aws-ebs: planned growth waits only the policy cooldown",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
					spec.Provider = v1alpha1.ProviderAWSEBS
				}).pvc("orders-1", func(pvc *PVC) { pvc.LastGrowth = testNow.Add(-5 * time.Hour) }).build()
			},
			pvc: "orders-1", wantTo: 60, wantKind: v1alpha1.GrowthPlanned,
		},
		{
			name: "aws-ebs: a fifth modification in a rolling 24h waits, even an emergency",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 99, 10).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
					spec.Provider = v1alpha1.ProviderAWSEBS
				}).grown(23*time.Hour, "orders-1", "orders-2").grown(20*time.Hour, "orders-1").
					grown(6*time.Hour, "orders-1").grown(time.Hour, "orders-1").build()
			},
			pvc: "orders-1", wantGate: GateCooldown, wantState: v1alpha1.VolumeBlocked,
			wantReason: "aws-ebs allows 4 modifications of a volume in a rolling 24h; orders-1 was modified at yesterday 11:00, yesterday 14:00, 04:00 and 09:00 UTC; next growth possible at 11:00 UTC; the volume is critical",
		},
		{
			name: "aws-ebs: a modification 24h ago no longer counts",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 99, 10).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
					spec.Provider = v1alpha1.ProviderAWSEBS
				}).grown(24*time.Hour, "orders-1").grown(20*time.Hour, "orders-1").
					grown(6*time.Hour, "orders-1").grown(time.Hour, "orders-1").build()
			},
			pvc: "orders-1", wantTo: 67, wantKind: v1alpha1.GrowthEmergency,
		},
		{
			name: "aws-ebs: other volumes' modifications do not count",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 99, 10).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
					spec.Provider = v1alpha1.ProviderAWSEBS
				}).grown(23*time.Hour, "orders-2").grown(20*time.Hour, "orders-2").
					grown(6*time.Hour, "orders-1-wal").grown(time.Hour, "orders-1-wal").build()
			},
			pvc: "orders-1", wantTo: 67, wantKind: v1alpha1.GrowthEmergency,
		},
		{
			name: "WAL safety: failing archive holds planned WAL growth",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 85).observed("orders-1", failingArchive).build()
			},
			pvc: "orders-1-wal", wantGate: GateWALSafety, wantState: v1alpha1.VolumeBlocked,
			wantReason: "archiving failing since 09:31 UTC (last failure 09:58 UTC on 0000000100000000000000A1); fix archiving: a bigger disk only delays the outage: planned WAL growth held",
		},
		{
			name: "WAL safety: failing archive does not hold planned data growth when WAL has its own volume",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).observed("orders-1", failingArchive).build()
			},
			pvc: "orders-1", wantTo: 60, wantKind: v1alpha1.GrowthPlanned,
		},
		{
			name: "WAL safety: failing archive holds the data volume of a single-volume cluster",
			build: func(t *testing.T) Snapshot {
				return newSnapshot(t).instance("orders-1", v1alpha1.InstancePrimary).data("orders-1", 50, 85).
					observed("orders-1", failingArchive).build()
			},
			pvc: "orders-1", wantGate: GateWALSafety, wantReason: "archiving failing",
		},
		{
			name: "WAL safety: emergency WAL growth goes ahead while archiving fails",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 97).observed("orders-1", failingArchive).build()
			},
			pvc: "orders-1-wal", wantTo: 13, wantKind: v1alpha1.GrowthEmergency,
		},
		{
			name: "WAL safety: blockEmergencyGrowth holds emergency WAL growth too",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 97).observed("orders-1", failingArchive).
					policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) { spec.WALSafety.BlockEmergencyGrowth = true }).build()
			},
			pvc: "orders-1-wal", wantGate: GateWALSafety, wantReason: "emergency WAL growth held too",
		},
		{
			name: "WAL safety: an inactive slot over the retention limit holds planned WAL growth",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 85).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
					spec.WALSafety.MaxInactiveSlotRetention = giQuantity(5)
				}).observed("orders-1", func(status *v1alpha1.StorageObservationStatus) {
					status.Postgres.Slots = []v1alpha1.SlotObservation{
						{Name: "debezium", Type: "logical", RetainedBytes: gi(7)},
						{Name: "_cnpg_orders_2", Type: "physical", RetainedBytes: gi(9)},
					}
				}).build()
			},
			pvc: "orders-1-wal", wantGate: GateWALSafety, wantReason: `inactive replication slot "debezium" retains 7Gi`,
		},
		{
			name: "WAL safety: CNPG's own HA slots are not counted",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 85).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
					spec.WALSafety.MaxInactiveSlotRetention = giQuantity(5)
				}).observed("orders-1", func(status *v1alpha1.StorageObservationStatus) {
					status.Postgres.Slots = []v1alpha1.SlotObservation{{Name: "_cnpg_orders_2", Type: "physical", RetainedBytes: gi(9)}}
				}).build()
			},
			pvc: "orders-1-wal", wantTo: 12, wantKind: v1alpha1.GrowthPlanned,
		},
		{
			name: "WAL safety: PostgreSQL unreachable holds planned WAL growth as health unknown",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 85).observed("orders-1", func(status *v1alpha1.StorageObservationStatus) {
					status.Postgres = v1alpha1.PostgresObservation{Reachable: false, Reason: "connection refused"}
				}).build()
			},
			pvc: "orders-1-wal", wantGate: GateWALSafety, wantReason: "WAL health unknown: PostgreSQL on primary orders-1 is not reachable (connection refused)",
		},
		{
			name: "WAL safety: a full WAL volume with PostgreSQL down is grown as an emergency",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 100).observed("orders-1", func(status *v1alpha1.StorageObservationStatus) {
					status.Postgres = v1alpha1.PostgresObservation{Reachable: false, Reason: "PANIC: could not write to file pg_wal"}
				}).build()
			},
			pvc: "orders-1-wal", wantTo: 14, wantKind: v1alpha1.GrowthEmergency, wantReason: "volume full",
		},
		{
			name:  "window: planned growth outside the window is queued until it opens",
			build: func(t *testing.T) Snapshot { return oneInstance(t, 85, 10).policy(nightlyWindow).build() },
			pvc:   "orders-1", wantGate: GateWindow, wantState: v1alpha1.VolumeQueued,
			wantReason: `planned growth to 60Gi queued until tomorrow 02:00 UTC (maintenance window "0 2 * * *", 2h)`,
		},
		{
			// Issue #21: 95 % is 10 s away at 500 MiB/s, sooner than a
			// growth lands; a growth decided there would land on a full
			// volume. Sized as any growth (the latest rate never sizes).
			name: "window: a queued growth whose critical threshold is seconds away grows now, as an emergency",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).policy(nightlyWindow).fillingNow("orders-1", "orders-1", 500<<20).build()
			},
			pvc: "orders-1", wantTo: 60, wantKind: v1alpha1.GrowthEmergency, wantState: v1alpha1.VolumeGrowing,
		},
		{
			name: "window: an observation more than 10 s old anticipates nothing",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).policy(nightlyWindow).fillingNow("orders-1", "orders-1", 500<<20).
					observedVolume("orders-1", func(v *v1alpha1.ObservedVolume) { v.RecentFillRateBytesPerSecond = 500 << 20 }).
					observedAgo("orders-1", 11*time.Second).build()
			},
			pvc: "orders-1", wantGate: GateWindow, wantState: v1alpha1.VolumeQueued, wantReason: "planned growth to 261Gi queued until",
		},
		{
			name: "window: a critical threshold a minute away waits for the window",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).policy(nightlyWindow).fillingNow("orders-1", "orders-1", 80<<20).build()
			},
			pvc: "orders-1", wantGate: GateWindow, wantState: v1alpha1.VolumeQueued, wantReason: "planned growth to 60Gi queued until",
		},
		{
			name: "window: planned growth inside the window grows",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).policy(nightlyWindow).at(time.Date(2026, 5, 2, 3, 59, 0, 0, time.UTC)).build()
			},
			pvc: "orders-1", wantTo: 60, wantKind: v1alpha1.GrowthPlanned,
		},
		{
			name:  "window: critical outside window grows now",
			build: func(t *testing.T) Snapshot { return oneInstance(t, 97, 10).policy(nightlyWindow).build() },
			pvc:   "orders-1", wantTo: 65, wantKind: v1alpha1.GrowthEmergency,
		},
		{
			name: "budget: planned growth stops at maxActionsPerDay minus emergencyReserve",
			build: func(t *testing.T) Snapshot {
				b := oneInstance(t, 85, 10)
				for hours := range 4 {
					b.budgetAction(time.Duration(hours+1)*time.Hour, v1alpha1.GrowthPlanned, v1alpha1.RoleData, int64(40+hours))
				}
				return b.build()
			},
			pvc: "orders-1", wantGate: GateBudget, wantState: v1alpha1.VolumeBlocked,
			wantReason: "daily budget for planned growth used: 4 of 4 in the last 24h (maxActionsPerDay 6 minus emergencyReserve 2); next growth possible after tomorrow 06:00 UTC",
		},
		{
			name: "budget: emergency growth uses the reserve",
			build: func(t *testing.T) Snapshot {
				b := oneInstance(t, 97, 10)
				for hours := range 4 {
					b.budgetAction(time.Duration(hours+1)*time.Hour, v1alpha1.GrowthPlanned, v1alpha1.RoleData, int64(40+hours))
				}
				return b.build()
			},
			pvc: "orders-1", wantTo: 65, wantKind: v1alpha1.GrowthEmergency,
		},
		{
			name: "budget: emergency growth stops at maxActionsPerDay",
			build: func(t *testing.T) Snapshot {
				b := oneInstance(t, 97, 10)
				for hours := range 6 {
					b.budgetAction(time.Duration(hours+1)*time.Hour, v1alpha1.GrowthEmergency, v1alpha1.RoleData, int64(40+hours))
				}
				return b.build()
			},
			pvc: "orders-1", wantGate: GateBudget, wantReason: "daily growth budget used: 6 of maxActionsPerDay 6",
		},
		{
			name: "budget: actions older than 24h no longer count",
			build: func(t *testing.T) Snapshot {
				b := oneInstance(t, 85, 10)
				for hours := range 4 {
					b.budgetAction(24*time.Hour+time.Duration(hours)*time.Second, v1alpha1.GrowthPlanned, v1alpha1.RoleData, int64(40+hours))
				}
				return b.build()
			},
			pvc: "orders-1", wantTo: 60, wantKind: v1alpha1.GrowthPlanned,
		},
		{
			name: "budget: a growth already recorded for the role and target is not charged again",
			build: func(t *testing.T) Snapshot {
				b := oneInstance(t, 85, 10)
				for hours := range 3 {
					b.budgetAction(time.Duration(hours+1)*time.Hour, v1alpha1.GrowthPlanned, v1alpha1.RoleData, int64(40+hours))
				}
				return b.budgetAction(time.Minute, v1alpha1.GrowthPlanned, v1alpha1.RoleData, 60).build()
			},
			pvc: "orders-1", wantTo: 60, wantKind: v1alpha1.GrowthPlanned,
		},
		{
			name: "gate order: storage class is reported before a stale observation and the window",
			build: func(t *testing.T) Snapshot {
				b := oneInstance(t, 85, 10).policy(nightlyWindow)
				b.snapshot.StorageClasses[0].AllowVolumeExpansion = false
				return b.build()
			},
			pvc: "orders-1", wantGate: GateStorageClass,
		},
		{
			name: "gate order: in flight is reported before the limit",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 85, 10).pvc("orders-1", func(pvc *PVC) { pvc.AllocatedResourceStatus = "ControllerResizeInProgress" }).
					policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) { spec.Volumes.Data.Limit = quantityPtr(giQuantity(50)) }).build()
			},
			pvc: "orders-1", wantGate: GateInFlight,
		},
		{
			// The broken archive still shows (conditions, alerts); the
			// emergency would come at 95 % anyway, too late at this rate.
			name: "WAL safety: a held WAL growth whose critical threshold is seconds away grows now, as an emergency",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 85).observed("orders-1", failingArchive).fillingNow("orders-1", "orders-1-wal", 100<<20).build()
			},
			pvc: "orders-1-wal", wantTo: 12, wantKind: v1alpha1.GrowthEmergency,
		},
		{
			name: "WAL safety: blockEmergencyGrowth holds an imminent critical threshold too",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 85).observed("orders-1", failingArchive).fillingNow("orders-1", "orders-1-wal", 100<<20).
					policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) { spec.WALSafety.BlockEmergencyGrowth = true }).build()
			},
			pvc: "orders-1-wal", wantGate: GateWALSafety,
		},
		{
			name: "budget: a planned growth out of budget whose critical threshold is seconds away uses the emergency reserve",
			build: func(t *testing.T) Snapshot {
				b := oneInstance(t, 85, 10).fillingNow("orders-1", "orders-1", 500<<20)
				for hours := range 4 {
					b.budgetAction(time.Duration(hours+1)*time.Hour, v1alpha1.GrowthPlanned, v1alpha1.RoleData, int64(40+hours))
				}
				return b.build()
			},
			pvc: "orders-1", wantTo: 60, wantKind: v1alpha1.GrowthEmergency,
		},
		{
			name: "gate order: WAL safety is reported before the window",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 85).observed("orders-1", failingArchive).policy(nightlyWindow).build()
			},
			pvc: "orders-1-wal", wantGate: GateWALSafety,
		},
		{
			name: "gate order: the window is reported before the budget",
			build: func(t *testing.T) Snapshot {
				b := oneInstance(t, 85, 10).policy(nightlyWindow)
				for hours := range 4 {
					b.budgetAction(time.Duration(hours+1)*time.Hour, v1alpha1.GrowthPlanned, v1alpha1.RoleData, int64(40+hours))
				}
				return b.build()
			},
			pvc: "orders-1", wantGate: GateWindow,
		},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

// TestProviderLimitLiftsWhenTheOldestCountedModificationLeaves24h: the hold
// says when it lifts, so the plan is requeued for then.
func TestProviderLimitLiftsWhenTheOldestCountedModificationLeaves24h(t *testing.T) {
	v := &volume{
		pvc:      PVC{Name: "orders-1"},
		provider: resolveProvider(v1alpha1.ProviderAWSEBS, nil),
		modifications: []time.Time{
			testNow.Add(-30 * time.Hour), testNow.Add(-23 * time.Hour), testNow.Add(-20 * time.Hour),
			testNow.Add(-6 * time.Hour), testNow.Add(-time.Hour),
		},
	}
	h := cooldownHold(v, v1alpha1.GrowthEmergency, testNow)
	if h == nil || !h.until.Equal(testNow.Add(time.Hour)) {
		t.Fatalf("hold %+v, want one lifting at %s", h, testNow.Add(time.Hour))
	}
	if h := cooldownHold(v, v1alpha1.GrowthEmergency, testNow.Add(time.Hour)); h != nil {
		t.Fatalf("at %s still held: %s", testNow.Add(time.Hour), h.reason)
	}
}
