package runner

import (
	"errors"
	"time"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/config"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/decide"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/probe"
)

// volumeState is one configured volume and its fill-rate history.
type volumeState struct {
	volume config.Volume
	rate   decide.FillRate
	// sustained and recent are the ring's rates, read again only when the
	// ring takes a sample (every spacing, not every measurement).
	sustained, recent float64
}

// Volumes measures the configured volumes and keeps their fill rates.
type Volumes struct {
	states []*volumeState
}

// NewVolumes prepares the volumes in the order given (the observation lists
// them in that order, so a write compares like with like); their sustained
// fill rates read samples spacing apart (decide.FillRate.Spacing).
func NewVolumes(volumes []config.Volume, spacing time.Duration) *Volumes {
	v := &Volumes{}
	for _, vol := range volumes {
		v.states = append(v.states, &volumeState{volume: vol, rate: decide.FillRate{Spacing: spacing}})
	}
	return v
}

// Measure statfs's every volume at now into out (reused between cycles).
// A volume that cannot be measured is left out and named in the error: a
// zero capacity would read as a real, empty volume.
func (v *Volumes) Measure(now time.Time, out []v1alpha1.ObservedVolume) ([]v1alpha1.ObservedVolume, error) {
	out = out[:0]
	var errs []error
	for _, s := range v.states {
		figures, err := probe.Statfs(s.volume.MountPath)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if s.rate.Add(decide.Sample{At: now, UsedBytes: figures.UsedBytes, CapacityBytes: figures.CapacityBytes}) {
			s.sustained, _ = s.rate.BytesPerSecond()
			s.recent, _ = s.rate.RecentBytesPerSecond()
		}
		latest, _ := s.rate.LatestBytesPerSecond()
		out = append(out, v1alpha1.ObservedVolume{
			Name:                         s.volume.Name,
			Role:                         s.volume.Role,
			Tablespace:                   s.volume.Tablespace,
			PVC:                          s.volume.PVC,
			MountPath:                    s.volume.MountPath,
			CapacityBytes:                figures.CapacityBytes,
			UsedBytes:                    figures.UsedBytes,
			AvailableBytes:               figures.AvailableBytes,
			InodesTotal:                  figures.InodesTotal,
			InodesFree:                   figures.InodesFree,
			FillRateBytesPerSecond:       int64(s.sustained),
			RecentFillRateBytesPerSecond: int64(s.recent),
			LatestFillRateBytesPerSecond: int64(latest),
			LatestFillBytes:              s.rate.LatestFillBytes(),
		})
	}
	return out, errors.Join(errs...)
}
