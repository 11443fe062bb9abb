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

// Written is the last status the API server accepted and when.
type Written struct {
	Status v1alpha1.StorageObservationStatus
	At     time.Time
}

// ShouldWrite says whether current is worth a write, with the reason for
// the log. last is nil before the first write.
func ShouldWrite(last *Written, current *v1alpha1.StorageObservationStatus, now time.Time, heartbeat time.Duration) (bool, string) {
	if last == nil {
		return true, "first observation of this pod"
	}
	if now.Sub(last.At) >= heartbeat {
		return true, fmt.Sprintf("heartbeat: nothing written for %s", now.Sub(last.At).Round(time.Second))
	}
	for _, rule := range []func(old, cur *v1alpha1.StorageObservationStatus) (bool, string){
		healthChanged, volumesChanged, slotsChanged,
	} {
		if changed, reason := rule(&last.Status, current); changed {
			return true, reason
		}
	}
	return false, ""
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

func volumesChanged(old, cur *v1alpha1.StorageObservationStatus) (bool, string) {
	if len(old.Volumes) != len(cur.Volumes) {
		return true, "the set of volumes changed"
	}
	for i := range cur.Volumes {
		o, c := &old.Volumes[i], &cur.Volumes[i]
		if o.Name != c.Name {
			return true, "the set of volumes changed"
		}
		if changed, reason := volumeChanged(o, c); changed {
			return true, fmt.Sprintf("volume %s: %s", c.Name, reason)
		}
	}
	return false, ""
}

func volumeChanged(old, cur *v1alpha1.ObservedVolume) (bool, string) {
	if old.CapacityBytes != cur.CapacityBytes {
		return true, fmt.Sprintf("capacity changed from %d to %d bytes", old.CapacityBytes, cur.CapacityBytes)
	}
	threshold := int64(math.Min(MinUsedMoveBytes, UsedMoveFraction*float64(cur.CapacityBytes)))
	if moved := cur.UsedBytes - old.UsedBytes; moved >= threshold || -moved >= threshold {
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
