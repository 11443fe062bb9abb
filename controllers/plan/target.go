package plan

import (
	"math"
	"time"

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

// growthReactionAllowance is how long a volume keeps filling between
// crossing the trigger and its filesystem being grown: the sidecar's fast
// probe interval (2 s) to see it, the observation write and the reconcile,
// then the resize by the CSI driver and kubelet. Measured on the sandbox at
// 1.4–4.4 s (FACTS.md); a cloud disk's online resize takes longer, so the
// allowance is generous. The rate cover sizes for it on top of the cooldown.
const growthReactionAllowance = 30 * time.Second

// maxForecastGrowthFactor bounds the forecast cover at a doubling of the
// volume per action: a rate measured over minutes, projected over hours,
// must not buy a volume many times its size in one step.
const maxForecastGrowthFactor = 2

// targetRequest is the request a triggered volume grows to (DESIGN §8):
// the largest of capacity + step, the size leaving targetFreePercent free,
// with forecast on the size that stays under the trigger for the horizon,
// and the size that stays under the trigger at the measured fill rate until
// the next growth may happen; rounded up for the provider; clamped to the
// limit; never below the current request.
func targetRequest(s sizing, rule *v1alpha1.VolumePolicy) int64 {
	target := max(stepTarget(s, rule.Step), freeTarget(s, rule.TargetFreePercent), forecastTarget(s, rule), rateTarget(s, rule))
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
// today's rate, is still below the trigger at the end of the horizon, but
// at most a doubling of the volume: the horizon's projected need, never
// more. 0 when forecast is off or the volume is not filling.
func forecastTarget(s sizing, rule *v1alpha1.VolumePolicy) int64 {
	horizon := rule.Forecast.Horizon.Duration
	if horizon <= 0 || s.figures.fillRateBytesPerSecond <= 0 {
		return 0
	}
	base := max(s.requestBytes, s.capacityBytes)
	return min(s.underTriggerAfter(horizon, rule.Trigger), saturatingMultiply(base, maxForecastGrowthFactor))
}

// rateTarget is the smallest request whose filesystem, filling at the
// measured rate, is still below the trigger when the next growth may
// happen: after the cooldown and the reaction allowance (issue #21). Under
// the trigger rather than under the critical threshold: the next growth is
// then a planned one decided once the cooldown is over, and the trigger's
// margin absorbs its own reaction time, instead of an emergency spending
// the reserve. The rate is the cover rate (the faster of the recent and
// the 10-minute rates): a fill that just started is what the cooldown
// must be survived at. Bounded by step.max (0 = unbounded); the limit bounds it with every
// other target. 0 when the volume is not filling.
func rateTarget(s sizing, rule *v1alpha1.VolumePolicy) int64 {
	if s.figures.coverRate() <= 0 {
		return 0
	}
	s.figures = s.figures.atCoverRate()
	untilNextGrowth := effectiveCooldown(rule) + growthReactionAllowance
	target := s.underTriggerAfter(untilNextGrowth, rule.Trigger)
	if maxStep := bytesOf(rule.Step.Max); maxStep > 0 {
		base := max(s.requestBytes, s.capacityBytes)
		target = min(target, addBytes(base, max(maxStep, bytesOf(rule.Step.Min))))
	}
	return target
}

// coverRate is the rate a growth is sized for: the faster of the sidecar's
// recent (20-60 s) and 10-minute rates.
func (u usage) coverRate() int64 {
	return max(u.fillRateBytesPerSecond, u.recentFillRateBytesPerSecond)
}

// atCoverRate is u filling at its cover rate, for the projections that
// size growths (never for forecasts, which use the 10-minute rate only).
func (u usage) atCoverRate() usage {
	u.fillRateBytesPerSecond = u.coverRate()
	return u
}

// effectiveCooldown is the least time between two planned growths of a
// PVC. No provider imposes a fixed minimum any more (aws-ebs counts
// modifications per day instead: providerLimitHold), so it is the policy's.
func effectiveCooldown(rule *v1alpha1.VolumePolicy) time.Duration {
	return max(rule.Cooldown.Duration, 0)
}

// underTriggerAfter is the smallest request whose filesystem, filling at
// the measured rate for the given time, is still below the trigger
// (usedPercent and minFree).
func (s sizing) underTriggerAfter(filling time.Duration, trigger v1alpha1.Trigger) int64 {
	usedThen := float64(s.figures.usedBytes) + float64(s.figures.fillRateBytesPerSecond)*filling.Seconds()
	filesystemBytes := usedThen
	if percent := trigger.UsedPercent; percent > 0 && percent < 100 {
		// Strictly under the trigger: one byte more than the size at which
		// usedThen is exactly usedPercent.
		filesystemBytes = math.Floor(usedThen*100/float64(percent)) + 1
	}
	if minFree := bytesOf(trigger.MinFree); minFree > 0 {
		filesystemBytes = max(filesystemBytes, usedThen+float64(minFree))
	}
	return s.requestFor(filesystemBytes)
}

// requestFor is the smallest request whose filesystem, at the overhead
// ratio observed now, holds filesystemBytes.
func (s sizing) requestFor(filesystemBytes float64) int64 {
	return ceilBytes(filesystemBytes / s.overheadRatio())
}
