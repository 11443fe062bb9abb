package decide

import (
	"fmt"
	"time"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// The fixed band in which the sidecar probes at the fast interval.
const (
	FastAboveUsedPercent = 80
	FastWhenFullWithin   = time.Hour
)

// ProbeInterval is the wait before the next probe: fast once any volume is
// above FastAboveUsedPercent used or its fill rate says full within
// FastWhenFullWithin, so the controller sees a filling volume in seconds.
// The reason names the volume that made it fast.
func ProbeInterval(volumes []v1alpha1.ObservedVolume, normal, fast time.Duration) (time.Duration, string) {
	for _, v := range volumes {
		if v.CapacityBytes > 0 && 100*float64(v.UsedBytes)/float64(v.CapacityBytes) > FastAboveUsedPercent {
			return fast, fmt.Sprintf("volume %s is above %d%% used", v.Name, FastAboveUsedPercent)
		}
		if ttf, ok := TimeToFull(v.AvailableBytes, float64(v.FillRateBytesPerSecond)); ok && ttf < FastWhenFullWithin {
			return fast, fmt.Sprintf("volume %s fills in %s at the current rate", v.Name, ttf.Round(time.Second))
		}
	}
	return normal, ""
}

// CloseWatchBelowBytes: a volume with less free space than this is
// measured every disk interval (100 ms), any other every fast interval
// (2 s). It is a minute of a 100 MiB/s fill, the fastest issue #21
// measured: at that rate a 1 GiB volume moves 10 % a second and a 100 ms
// measurement is what keeps it from full, while on a volume with 6 GiB
// free two seconds of it are 3 % of what is left. Measuring ten times a
// second costs about 1 millicore a pod locally (BenchmarkCPUAtRest), four
// times the 2 s cadence, and 4.6 on the sandbox (docs/performance.md, "Cost
// at rest"); only a volume a fast fill threatens pays for it.
const CloseWatchBelowBytes = 6000 << 20

// DiskInterval is the wait before the next measurement of the disks: the
// disk interval while any volume has less than CloseWatchBelowBytes free
// or its latest rate fills it within UrgentWithin, the fast interval
// otherwise.
func DiskInterval(volumes []v1alpha1.ObservedVolume, disk, fast time.Duration) time.Duration {
	for i := range volumes {
		if volumes[i].AvailableBytes < CloseWatchBelowBytes || urgent(&volumes[i]) {
			return disk
		}
	}
	return fast
}

// PostgresDue says whether a cycle at now asks PostgreSQL. The disks are
// measured every cycle (tick, DiskInterval's), always: statfs costs
// microseconds, and a fill that starts on a calm volume must be seen at
// once, not at the next probe of PostgreSQL (issue #21: at 10 MiB/s from
// 77 % a 1Gi volume was 85.6 % full when a 10 s probe first saw it past
// 80 %, and at 100 MiB/s it moves 20 % in 2 s). PostgreSQL is asked every
// interval ProbeInterval picked at the last ask. Half a tick of slack keeps
// timer jitter from skipping an ask that is due.
func PostgresDue(lastAsked, now time.Time, every, tick time.Duration) bool {
	return lastAsked.IsZero() || now.Sub(lastAsked) >= every-tick/2
}
