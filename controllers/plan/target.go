package plan

import (
	"math"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// minFilesystemRatio: a filesystem smaller than this share of its PVC's
// capacity has not been grown by kubelet yet. XFS keeps about 6 % of a
// 1 GiB volume and ext4 less, so a real filesystem is always above it.
const minFilesystemRatio = 0.85

// sizing is what a target is computed from: the PVC's request and
// capacity, the filesystem's figures, and the provider's rounding.
type sizing struct {
	requestBytes  int64
	capacityBytes int64 // PVC status.capacity; 0 when unknown
	limitBytes    int64
	figures       usage
	provider      providerProfile
}

// overheadRatio is the filesystem's size per byte of PVC capacity, observed
// now. A ratio above 1 (a filesystem the PVC's capacity does not yet show)
// counts as 1, so that a target is never smaller than the need.
func (s sizing) overheadRatio() float64 {
	pvcBytes := s.capacityBytes
	if pvcBytes <= 0 {
		pvcBytes = s.requestBytes
	}
	if pvcBytes <= 0 || s.figures.capacityBytes <= 0 {
		return 1
	}
	return min(max(float64(s.figures.capacityBytes)/float64(pvcBytes), minFilesystemRatio), 1)
}

// targetRequest is the request a triggered volume grows to (DESIGN §8):
// the largest of capacity + step, the size leaving targetFreePercent free,
// and with forecast on the size that stays under the trigger for the
// horizon; rounded up for the provider; clamped to the limit; never below
// the current request.
func targetRequest(s sizing, rule *v1alpha1.VolumePolicy) int64 {
	target := max(stepTarget(s, rule.Step), freeTarget(s, rule.TargetFreePercent), forecastTarget(s, rule))
	target = s.provider.roundSize(target)
	target = min(target, s.limitBytes)
	return max(target, s.requestBytes)
}

// stepTarget: capacity plus step.percent of it, bounded by step.min and
// step.max (0 = unbounded; a max below min counts as min).
func stepTarget(s sizing, step v1alpha1.Step) int64 {
	base := max(s.requestBytes, s.capacityBytes)
	stepBytes := ceilBytes(float64(base) * float64(max(step.Percent, 0)) / 100)
	minStep := bytesOf(step.Min)
	stepBytes = max(stepBytes, minStep)
	if maxStep := bytesOf(step.Max); maxStep > 0 {
		stepBytes = min(stepBytes, max(maxStep, minStep))
	}
	return addBytes(base, stepBytes)
}

// freeTarget is the smallest request whose filesystem has
// targetFreePercent free with today's used bytes.
func freeTarget(s sizing, targetFreePercent int32) int64 {
	freeShare := float64(min(max(targetFreePercent, 0), 99)) / 100
	filesystemBytes := float64(s.figures.usedBytes) / (1 - freeShare)
	return s.requestFor(filesystemBytes)
}

// forecastTarget is the smallest request whose filesystem, filling at
// today's rate, is still below the trigger (usedPercent and minFree) at
// the end of the horizon. 0 when forecast is off or the volume is not
// filling.
func forecastTarget(s sizing, rule *v1alpha1.VolumePolicy) int64 {
	horizon := rule.Forecast.Horizon.Duration
	if horizon <= 0 || s.figures.fillRateBytesPerSecond <= 0 {
		return 0
	}
	usedAtHorizon := float64(s.figures.usedBytes) + float64(s.figures.fillRateBytesPerSecond)*horizon.Seconds()
	filesystemBytes := usedAtHorizon
	if percent := rule.Trigger.UsedPercent; percent > 0 && percent < 100 {
		// Strictly under the trigger: one byte more than the size at which
		// usedAtHorizon is exactly usedPercent.
		filesystemBytes = math.Floor(usedAtHorizon*100/float64(percent)) + 1
	}
	if minFree := bytesOf(rule.Trigger.MinFree); minFree > 0 {
		filesystemBytes = max(filesystemBytes, usedAtHorizon+float64(minFree))
	}
	return s.requestFor(filesystemBytes)
}

// requestFor is the smallest request whose filesystem, at the overhead
// ratio observed now, holds filesystemBytes.
func (s sizing) requestFor(filesystemBytes float64) int64 {
	return ceilBytes(filesystemBytes / s.overheadRatio())
}
