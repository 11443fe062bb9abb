package decide

import (
	"fmt"
	"math"
	"time"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// The fixed write rules of DESIGN §5.
const (
	// MinUsedMoveBytes: a move of this many bytes is meaningful on any volume.
	MinUsedMoveBytes = 64 << 20
	// UsedMoveFraction of capacity is meaningful on a small volume sooner.
	UsedMoveFraction = 0.005
	// PercentStep: crossing a multiple of it is meaningful (80 %, 85 % ...).
	PercentStep = 5
)

// UrgentWithin: a volume its latest rate fills within this long reports
// every move as soon as it is measured; any other reports a move at most
// every Cadence.Moves. The controller's decision on a 1 GiB volume filling
// at 100 MiB/s cannot wait 2 s (issue #21), and a 100 GiB bulk load need
// not write several times a second.
const UrgentWithin = time.Minute

// Cadence is how often the sidecar writes what did not change in kind.
type Cadence struct {
	// Heartbeat: an observation is written at least this often.
	Heartbeat time.Duration
	// Moves: used bytes that moved are written at most this often, unless
	// the volume is full within UrgentWithin at its latest rate.
	Moves time.Duration
}

// Written is the last status the API server accepted and when.
type Written struct {
	Status v1alpha1.StorageObservationStatus
	At     time.Time
}

// ShouldWrite says whether current is worth a write, with the reason for
// the log. last is nil before the first write.
func ShouldWrite(last *Written, current *v1alpha1.StorageObservationStatus, now time.Time, cadence Cadence) (bool, string) {
	if last == nil {
		return true, "first observation of this pod"
	}
	if now.Sub(last.At) >= cadence.Heartbeat {
		return true, fmt.Sprintf("heartbeat: nothing written for %s", now.Sub(last.At).Round(time.Second))
	}
	if changed, reason := healthChanged(&last.Status, current); changed {
		return true, reason
	}
	if changed, reason := volumesChanged(&last.Status, current, now.Sub(last.At) >= cadence.Moves); changed {
		return true, reason
	}
	return slotsChanged(&last.Status, current)
}

func healthChanged(old, cur *v1alpha1.StorageObservationStatus) (bool, string) {
	switch {
	case old.Postgres.Reachable != cur.Postgres.Reachable:
		return true, fmt.Sprintf("PostgreSQL reachable changed to %t", cur.Postgres.Reachable)
	case old.Role != cur.Role:
		return true, fmt.Sprintf("instance role changed from %s to %s", old.Role, cur.Role)
	case archivingHealthy(old) != archivingHealthy(cur):
		return true, fmt.Sprintf("archiving healthy changed to %t", archivingHealthy(cur))
	case (old.Error == "") != (cur.Error == ""):
		if cur.Error == "" {
			return true, "probe error cleared"
		}
		return true, "probe error: " + cur.Error
	}
	return false, ""
}

// archivingHealthy counts "not known" as healthy: an unreachable PostgreSQL
// already has its own flag.
func archivingHealthy(s *v1alpha1.StorageObservationStatus) bool {
	return s.Postgres.Archiving == nil || s.Postgres.Archiving.Healthy
}

// volumesChanged: movesDue says whether a move of used bytes is due
// (Cadence.Moves has passed since the last write).
func volumesChanged(old, cur *v1alpha1.StorageObservationStatus, movesDue bool) (bool, string) {
	if len(old.Volumes) != len(cur.Volumes) {
		return true, "the set of volumes changed"
	}
	for i := range cur.Volumes {
		o, c := &old.Volumes[i], &cur.Volumes[i]
		if o.Name != c.Name {
			return true, "the set of volumes changed"
		}
		if changed, reason := volumeChanged(o, c, movesDue || urgent(c)); changed {
			return true, fmt.Sprintf("volume %s: %s", c.Name, reason)
		}
	}
	return false, ""
}

// urgent: the volume is full within UrgentWithin at its latest rate.
func urgent(v *v1alpha1.ObservedVolume) bool {
	ttf, ok := TimeToFull(v.AvailableBytes, float64(v.LatestFillRateBytesPerSecond))
	return ok && ttf < UrgentWithin
}

func volumeChanged(old, cur *v1alpha1.ObservedVolume, movesDue bool) (bool, string) {
	if old.CapacityBytes != cur.CapacityBytes {
		return true, fmt.Sprintf("capacity changed from %d to %d bytes", old.CapacityBytes, cur.CapacityBytes)
	}
	threshold := int64(math.Min(MinUsedMoveBytes, UsedMoveFraction*float64(cur.CapacityBytes)))
	if moved := cur.UsedBytes - old.UsedBytes; movesDue && (moved >= threshold || -moved >= threshold) {
		return true, fmt.Sprintf("used bytes moved by %d (threshold %d)", moved, threshold)
	}
	if o, c := percentBand(old.UsedBytes, old.CapacityBytes), percentBand(cur.UsedBytes, cur.CapacityBytes); o != c {
		return true, fmt.Sprintf("used crossed %d%%", PercentStep*max(o, c))
	}
	if o, c := percentBand(old.InodesTotal-old.InodesFree, old.InodesTotal),
		percentBand(cur.InodesTotal-cur.InodesFree, cur.InodesTotal); o != c {
		return true, fmt.Sprintf("inodes used crossed %d%%", PercentStep*max(o, c))
	}
	return false, ""
}

// percentBand is which PercentStep-wide band of 0-100 % used falls in.
func percentBand(used, total int64) int {
	if total <= 0 {
		return 0
	}
	return int(100 * float64(used) / float64(total) / PercentStep)
}

// slotsChanged: a slot that appears, goes, (de)activates or changes
// wal_status is what the controller's WAL safety gates read. Retained bytes
// alone are not: they show up as the WAL volume's used bytes.
func slotsChanged(old, cur *v1alpha1.StorageObservationStatus) (bool, string) {
	o, c := old.Postgres.Slots, cur.Postgres.Slots
	if len(o) != len(c) {
		return true, "the set of replication slots changed"
	}
	for i := range c {
		switch {
		case o[i].Name != c[i].Name:
			return true, "the set of replication slots changed"
		case o[i].Active != c[i].Active:
			return true, fmt.Sprintf("slot %s active changed to %t", c[i].Name, c[i].Active)
		case o[i].WALStatus != c[i].WALStatus:
			return true, fmt.Sprintf("slot %s wal_status changed to %s", c[i].Name, c[i].WALStatus)
		}
	}
	return false, ""
}
