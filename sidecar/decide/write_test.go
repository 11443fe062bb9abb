package decide

import (
	"strings"
	"testing"
	"time"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

const gib = 1 << 30

var t0 = time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)

// status builds a one-volume primary observation; edits change one thing.
func status(edits ...func(*v1alpha1.StorageObservationStatus)) *v1alpha1.StorageObservationStatus {
	s := &v1alpha1.StorageObservationStatus{
		Role: v1alpha1.InstancePrimary,
		Volumes: []v1alpha1.ObservedVolume{{
			Name: "pgdata", Role: v1alpha1.RoleData, PVC: "orders-1", MountPath: "/var/lib/postgresql/data",
			CapacityBytes: 100 * gib, UsedBytes: 50 * gib, AvailableBytes: 50 * gib,
			InodesTotal: 1000, InodesFree: 900,
		}},
		Postgres: v1alpha1.PostgresObservation{
			Reachable: true,
			Archiving: &v1alpha1.ArchivingObservation{Enabled: true, Healthy: true},
			Slots:     []v1alpha1.SlotObservation{{Name: "_cnpg_orders_2", Type: "physical", Active: true, WALStatus: "reserved"}},
		},
	}
	for _, edit := range edits {
		edit(s)
	}
	return s
}

func used(b int64) func(*v1alpha1.StorageObservationStatus) {
	return func(s *v1alpha1.StorageObservationStatus) {
		s.Volumes[0].UsedBytes, s.Volumes[0].AvailableBytes = b, s.Volumes[0].CapacityBytes-b
	}
}

func capacity(b int64) func(*v1alpha1.StorageObservationStatus) {
	return func(s *v1alpha1.StorageObservationStatus) { s.Volumes[0].CapacityBytes = b }
}

func TestShouldWrite(t *testing.T) {
	written := &Written{Status: *status(), At: t0}
	cases := []struct {
		name       string
		last       *Written
		current    *v1alpha1.StorageObservationStatus
		after      time.Duration
		want       bool
		wantReason string
	}{
		{name: "first observation is always written", last: nil, current: status(), want: true, wantReason: "first"},
		{name: "nothing changed is not written", last: written, current: status(), after: 59 * time.Second},
		{name: "heartbeat writes an unchanged observation", last: written, current: status(), after: time.Minute, want: true, wantReason: "heartbeat"},
		{name: "64 MiB moved on a large volume is written", last: written, current: status(used(50*gib + 64<<20)), after: 2 * time.Second, want: true, wantReason: "moved"},
		{name: "just under 64 MiB moved on a large volume is not", last: written, current: status(used(50*gib + 64<<20 - 1)), after: 2 * time.Second},
		{name: "shrinking by 64 MiB is written too", last: written, current: status(used(50*gib - 64<<20)), after: 2 * time.Second, want: true, wantReason: "moved"},
		{name: "a move within 2 s of the last write waits", last: written, current: status(used(50*gib + 1<<30)), after: 1750 * time.Millisecond},
		{
			name: "a move within 2 s of the last write on a volume full within a minute at its latest rate goes at once",
			last: written, after: 250 * time.Millisecond, want: true, wantReason: "moved",
			current: status(used(50*gib+1<<30), func(s *v1alpha1.StorageObservationStatus) { s.Volumes[0].LatestFillRateBytesPerSecond = 1 << 30 }),
		},
		{
			name: "a latest rate that fills the volume in more than a minute does not hurry a move",
			last: written, after: 250 * time.Millisecond,
			current: status(used(50*gib+1<<30), func(s *v1alpha1.StorageObservationStatus) { s.Volumes[0].LatestFillRateBytesPerSecond = 100 << 20 }),
		},
		{
			name:    "0.5% of a small volume is written before 64 MiB",
			last:    &Written{Status: *status(capacity(gib), used(gib/4)), At: t0},
			current: status(capacity(gib), used(gib/4+gib/200)), after: 2 * time.Second, want: true, wantReason: "moved",
		},
		{
			name:    "just under 0.5% of a small volume is not",
			last:    &Written{Status: *status(capacity(gib), used(gib/4)), At: t0},
			current: status(capacity(gib), used(gib/4+gib/200-1)), after: 2 * time.Second,
		},
		{
			name: "crossing 55% by a few bytes is written",
			last: &Written{Status: *status(used(55*gib - 10))}, current: status(used(55 * gib)),
			after: time.Second, want: true, wantReason: "crossed 55%",
		},
		{name: "capacity growth is written", last: written, current: status(capacity(200 * gib)), after: time.Second, want: true, wantReason: "capacity"},
		{
			name: "PostgreSQL becoming unreachable is written", last: written, after: time.Second, want: true, wantReason: "reachable",
			current: status(func(s *v1alpha1.StorageObservationStatus) { s.Postgres = v1alpha1.PostgresObservation{Reason: "down"} }),
		},
		{
			name: "a new unreachable reason alone is not written", after: time.Second,
			last: &Written{Status: *status(func(s *v1alpha1.StorageObservationStatus) {
				s.Postgres = v1alpha1.PostgresObservation{Reason: "no socket"}
			})},
			current: status(func(s *v1alpha1.StorageObservationStatus) {
				s.Postgres = v1alpha1.PostgresObservation{Reason: "starting up"}
			}),
		},
		{
			name: "failover to replica is written", last: written, after: time.Second, want: true, wantReason: "role",
			current: status(func(s *v1alpha1.StorageObservationStatus) { s.Role = v1alpha1.InstanceReplica }),
		},
		{
			name: "archiving turning unhealthy is written", last: written, after: time.Second, want: true, wantReason: "archiving",
			current: status(func(s *v1alpha1.StorageObservationStatus) { s.Postgres.Archiving.Healthy = false }),
		},
		{
			name: "a growing failed count alone is not written", last: written, after: time.Second,
			current: status(func(s *v1alpha1.StorageObservationStatus) { s.Postgres.Archiving.FailedCount = 7 }),
		},
		{
			name: "an inactive slot is written", last: written, after: time.Second, want: true, wantReason: "slot",
			current: status(func(s *v1alpha1.StorageObservationStatus) { s.Postgres.Slots[0].Active = false }),
		},
		{
			name: "retained bytes alone are not written", last: written, after: time.Second,
			current: status(func(s *v1alpha1.StorageObservationStatus) { s.Postgres.Slots[0].RetainedBytes = gib }),
		},
		{
			name: "inodes crossing 15% used is written", last: written, after: time.Second, want: true, wantReason: "inodes",
			current: status(func(s *v1alpha1.StorageObservationStatus) { s.Volumes[0].InodesFree = 850 }),
		},
		{
			name: "a probe error appearing is written", last: written, after: time.Second, want: true, wantReason: "probe error",
			current: status(func(s *v1alpha1.StorageObservationStatus) { s.Error = "statfs failed" }),
		},
		{
			name: "a fill rate alone is not written", last: written, after: time.Second,
			current: status(func(s *v1alpha1.StorageObservationStatus) { s.Volumes[0].FillRateBytesPerSecond = 12345 }),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			last := tc.last
			if last != nil && last.At.IsZero() {
				last = &Written{Status: last.Status, At: t0}
			}
			got, reason := ShouldWrite(last, tc.current, t0.Add(tc.after), Cadence{Heartbeat: time.Minute, Moves: 2 * time.Second})
			if got != tc.want || !strings.Contains(reason, tc.wantReason) {
				t.Fatalf("ShouldWrite = %t %q, want %t with a reason containing %q", got, reason, tc.want, tc.wantReason)
			}
		})
	}
}
