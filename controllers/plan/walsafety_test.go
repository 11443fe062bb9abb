package plan

import (
	"testing"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// The WAL cause is what the alerts tell a failing archive from a forgotten
// slot by; it is reported whether or not a growth is held for it now.
func TestWALCause(t *testing.T) {
	forgottenSlot := func(status *v1alpha1.StorageObservationStatus) {
		status.Postgres.Slots = []v1alpha1.SlotObservation{{Name: "debezium", Type: "logical", RetainedBytes: gi(7)}}
	}
	slotLimit := func(spec *v1alpha1.StorageAutoscalePolicySpec) {
		spec.WALSafety.MaxInactiveSlotRetention = giQuantity(5)
	}
	tests := []struct {
		name  string
		build func(t *testing.T) Snapshot
		want  WALCause
	}{
		{
			name:  "healthy WAL has no cause",
			build: func(t *testing.T) Snapshot { return oneInstance(t, 10, 85).build() },
		},
		{
			name: "failing archive is ArchiveFailing",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 85).observed("orders-1", failingArchive).build()
			},
			want: WALArchiveFailing,
		},
		{
			name: "failing archive is reported while no WAL growth is wanted",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 10).observed("orders-1", failingArchive).build()
			},
			want: WALArchiveFailing,
		},
		{
			name: "an inactive slot over the retention limit is SlotRetention",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 85).policy(slotLimit).observed("orders-1", forgottenSlot).build()
			},
			want: WALSlotRetention,
		},
		{
			name: "an unreachable primary is Unknown",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 85).observed("orders-1", func(status *v1alpha1.StorageObservationStatus) {
					status.Postgres = v1alpha1.PostgresObservation{Reachable: false, Reason: "connection refused"}
				}).build()
			},
			want: WALHealthUnknown,
		},
		{
			// Right after a failover CNPG names the new primary before its
			// probe has seen it promoted: the replica's archiver figures are
			// not the primary's WAL health.
			name: "the Cluster's primary still reporting as a replica is Unknown",
			build: func(t *testing.T) Snapshot {
				return oneInstance(t, 10, 85).observed("orders-1", func(status *v1alpha1.StorageObservationStatus) {
					status.Role = v1alpha1.InstanceReplica
				}).build()
			},
			want: WALHealthUnknown,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Plan(tc.build(t)).WALCause; got != tc.want {
				t.Errorf("WALCause = %q, want %q", got, tc.want)
			}
		})
	}
}

// A row carries the figures the inode and critical alerts and the
// dashboard's capacity panel judge it by.
func TestRowCarriesInodesCriticalThresholdAndLimit(t *testing.T) {
	result := Plan(oneInstance(t, 10, 10).policy(func(spec *v1alpha1.StorageAutoscalePolicySpec) {
		spec.Volumes.Data.Critical.UsedPercent = 93
	}).build())
	row := rowFor(t, result, "orders-1")
	if row.InodesTotal != 1_000_000 || row.InodesFree != 900_000 {
		t.Errorf("inodes = %d total, %d free; want 1000000, 900000", row.InodesTotal, row.InodesFree)
	}
	if row.CriticalUsedPercent != 93 {
		t.Errorf("CriticalUsedPercent = %d, want 93", row.CriticalUsedPercent)
	}
	if want := int64(500) << 30; row.LimitBytes != want {
		t.Errorf("LimitBytes = %d, want the data rule's limit %d", row.LimitBytes, want)
	}
}
