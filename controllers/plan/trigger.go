package plan

import (
	"math"
	"time"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// usage is one filesystem as statfs reported it, with the figures the
// thresholds are judged on. Reserved blocks count as used: PostgreSQL, not
// root, is the writer that matters.
type usage struct {
	capacityBytes          int64
	usedBytes              int64
	availableBytes         int64
	usedPercent            float64
	inodesTotal            int64
	inodesFree             int64
	fillRateBytesPerSecond int64
	// recentFillRateBytesPerSecond is the last minute's rate: it sizes
	// growths, never forecasts.
	recentFillRateBytesPerSecond int64
	// latestFillRateBytesPerSecond is the last 200 ms' rate: it
	// anticipates the trigger and the critical threshold, never sizes or
	// forecasts.
	latestFillRateBytesPerSecond int64
	// latestFillBytes is what the fill the latest rate belongs to has
	// written so far: it bounds how far that rate is projected.
	latestFillBytes int64
	// fresh: the observation is recent enough for its rates to say what
	// the volume does now (currentAt); current: recent enough for its
	// latest rate to be still going on.
	fresh, current bool
}

func usageOf(observed *v1alpha1.ObservedVolume) usage {
	capacity := max(observed.CapacityBytes, 0)
	available := min(max(observed.AvailableBytes, 0), capacity)
	figures := usage{
		capacityBytes:                capacity,
		availableBytes:               available,
		usedBytes:                    capacity - available,
		inodesTotal:                  max(observed.InodesTotal, 0),
		inodesFree:                   min(max(observed.InodesFree, 0), max(observed.InodesTotal, 0)),
		fillRateBytesPerSecond:       observed.FillRateBytesPerSecond,
		recentFillRateBytesPerSecond: observed.RecentFillRateBytesPerSecond,
		latestFillRateBytesPerSecond: observed.LatestFillRateBytesPerSecond,
		latestFillBytes:              max(observed.LatestFillBytes, 0),
	}
	if capacity > 0 {
		figures.usedPercent = float64(figures.usedBytes) * 100 / float64(capacity)
	}
	return figures
}

// UsedPercent is how full an observed volume is, as the thresholds judge
// it (reserved blocks count as used).
func UsedPercent(observed *v1alpha1.ObservedVolume) float64 { return usageOf(observed).usedPercent }

// full: nothing more can be written. Always critical, whatever the policy says.
func (u usage) full() bool { return u.availableBytes == 0 }

// inodesFull: no file can be created, however many bytes are free; as
// critical as full. A filesystem that reports no inodes at all (inodesTotal
// 0: it allocates them on demand, or did not say) is never inode-full.
func (u usage) inodesFull() bool { return u.inodesTotal > 0 && u.inodesFree == 0 }

func (u usage) inodesUsedPercent() float64 {
	if u.inodesTotal == 0 {
		return 0
	}
	return float64(u.inodesTotal-u.inodesFree) * 100 / float64(u.inodesTotal)
}

// timeToFull at the current fill rate; 0 when the volume is not filling.
func (u usage) timeToFull() time.Duration {
	if u.fillRateBytesPerSecond <= 0 {
		return 0
	}
	return secondsToDuration(float64(u.availableBytes) / float64(u.fillRateBytesPerSecond))
}

// want is what a volume's figures ask for.
type want int

const (
	wantNothing want = iota
	wantPlanned
	wantEmergency
)

func (w want) kind() v1alpha1.GrowthKind {
	if w == wantEmergency {
		return v1alpha1.GrowthEmergency
	}
	return v1alpha1.GrowthPlanned
}

// triggerResult is the verdict of the thresholds on one volume, with the
// threshold that fired in the words of the policy.
type triggerResult struct {
	want  want
	fired string
	// imminent says, for a planned want, why its critical threshold is
	// imminent (criticalImminent): a gate that holds planned growth and not
	// emergency growth then lets it go as the emergency it is about to be.
	imminent string
}

// promote turns a planned want whose critical threshold is imminent into
// an emergency.
func (t *triggerResult) promote() {
	if t.want == wantPlanned && t.imminent != "" {
		t.want, t.fired = wantEmergency, t.imminent
	}
}

// evaluateTriggers checks the critical thresholds first (emergency), then
// the planned ones; the first that fires names the growth. A planned want
// carries whether its critical threshold is imminent.
func evaluateTriggers(figures usage, rule *v1alpha1.VolumePolicy) triggerResult {
	if fired := criticalFired(figures, rule.Critical); fired != "" {
		return triggerResult{want: wantEmergency, fired: fired}
	}
	if fired := plannedFired(figures, rule); fired != "" {
		return triggerResult{want: wantPlanned, fired: fired, imminent: criticalImminent(figures, rule.Critical)}
	}
	if fired := triggerAnticipated(figures, rule.Trigger); fired != "" {
		return triggerResult{want: wantPlanned, fired: fired, imminent: criticalImminent(figures, rule.Critical)}
	}
	return triggerResult{}
}

// imminenceValidity is how long an observation says what a volume does
// now: its latest rate is the last few seconds' trend, and a sidecar that
// stopped writing (nothing moved) stopped filling.
const imminenceValidity = 10 * time.Second

// anticipationValidity is how long an observation's latest rate says the
// fill goes on: the sidecar writes a moving volume at least every 2 s
// (every 100 ms measurement when it is full within a minute), so an older observation
// of a volume under its trigger means the fill stopped or slowed.
const anticipationValidity = 3 * time.Second

// currentAt marks figures observed age ago as fresh and current when they
// are recent enough (or dated a little ahead: skewed clocks).
func (u usage) currentAt(age time.Duration) usage {
	u.fresh = age <= imminenceValidity && age >= -imminenceValidity
	u.current = age <= anticipationValidity && age >= -imminenceValidity
	return u
}

// triggerLead is how far ahead the latest rate anticipates the trigger: a
// growth lands on the filesystem about 1-2 s after the sample it was
// decided on (the sandbox, with the kubelet nudge: 1.1 s p50, 1.8 s worst;
// docs/performance.md), and the sidecar sees a fill 200 ms after it starts.
const triggerLead = 5 * time.Second

// anticipationStretch: a fill is projected no further than this many times
// what it has written so far (usage.latestFillBytes). The latest rate spans
// 200 ms, and one 30 MiB write caught between two measurements reads as
// 300 MiB/s: 5 s of that is 1.5 GiB, the whole of a small volume. A WAL
// segment (16 MiB) anticipates the trigger from 48 MiB away; a fill at
// 100 MiB/s has written 20 MiB when it first shows, enough for the 40 MiB
// that 4 % of 1 GiB is.
const anticipationStretch = 3

// latestProjects says whether the latest rate may be projected over bytes:
// no further than anticipationStretch times what its fill has written.
func (u usage) latestProjects(bytes float64) bool {
	return bytes <= anticipationStretch*float64(u.latestFillBytes)
}

// triggerAnticipated: at its latest rate the volume reaches its usedPercent
// or minFree trigger within triggerLead, and within anticipationStretch
// times what the fill has written, so a growth decided when the trigger is
// crossed would land seconds past it: on a 1 GiB volume at 100 MiB/s, 10 %
// of the volume a second (issue #21). It decides that growth now, as
// planned: the gates are the trigger's. The latest rate spans the last
// 200 ms, so it needs an observation at most anticipationValidity old; a
// fill that stopped since is never projected.
func triggerAnticipated(figures usage, trigger v1alpha1.Trigger) string {
	rate := figures.latestFillRateBytesPerSecond
	if !figures.current || rate <= 0 {
		return ""
	}
	figures.fillRateBytesPerSecond = rate
	untilTrigger := timeToTrigger(figures, trigger)
	if untilTrigger > triggerLead || !figures.latestProjects(bytesToTrigger(figures, trigger)) {
		return ""
	}
	return reasonAnticipated(trigger, untilTrigger, rate, figures.latestFillBytes)
}

// criticalImminent: at the faster of its latest and cover rates, the volume
// reaches a critical threshold sooner than a growth takes to land
// (growthReactionAllowance), so an emergency decided when the threshold is
// crossed would land on a full volume. The latest rate counts only as far
// as it may be projected (latestProjects): a WAL fill at 12 MiB/s written
// a second's worth at a time reads 37.5 MiB/s over 200 ms, and without the
// bound it grew a volume whose archive was failing at 55.6 %, as an
// emergency 20 s from 95 % (the E2E suite's #7). Issue #21: with planned growth
// queued for a closed window, a 1 GiB volume filling at 32 MiB/s hit
// ENOSPC; 95 % is 1.5 s from full at that rate, less than one probe and a
// reaction. It counts only for a volume over its trigger (or anticipating
// it: triggerAnticipated), on an observation
// at most imminenceValidity old, and only when a gate holds its planned
// growth and would let an emergency through (proposeGrowths,
// decideGrowths): it moves forward a growth the volume is over its trigger
// for, as the emergency it is about to become (so the emergency budget pays
// for it), and a planned growth that goes anyway stays planned.
func criticalImminent(figures usage, critical v1alpha1.CriticalThreshold) string {
	rate := figures.coverRate()
	if latest := figures.latestFillRateBytesPerSecond; latest > rate &&
		figures.latestProjects(bytesToTrigger(figures, criticalTrigger(critical))) {
		rate = latest
	}
	if !figures.fresh || rate <= 0 {
		return ""
	}
	figures.fillRateBytesPerSecond = rate
	untilCritical := timeToTrigger(figures, criticalTrigger(critical))
	if untilCritical >= growthReactionAllowance {
		return ""
	}
	return reasonCriticalImminent(critical, untilCritical, rate)
}

// criticalTrigger is the critical threshold's bytes levels as a Trigger,
// for timeToTrigger.
func criticalTrigger(critical v1alpha1.CriticalThreshold) v1alpha1.Trigger {
	return v1alpha1.Trigger{UsedPercent: critical.UsedPercent, MinFree: critical.MinFree}
}

func criticalFired(figures usage, critical v1alpha1.CriticalThreshold) string {
	if figures.full() {
		return reasonVolumeFull()
	}
	if figures.inodesFull() {
		return reasonInodesFull(figures.inodesTotal)
	}
	if percentReached(figures.usedPercent, critical.UsedPercent) {
		return reasonThreshold("critical usedPercent", figures.usedPercent, critical.UsedPercent)
	}
	if minFree := bytesOf(critical.MinFree); minFree > 0 && figures.availableBytes < minFree {
		return reasonFreeBelow("critical minFree", figures.availableBytes, minFree)
	}
	if figures.inodesTotal > 0 && percentReached(figures.inodesUsedPercent(), critical.InodesUsedPercent) {
		return reasonThreshold("critical inodesUsedPercent", figures.inodesUsedPercent(), critical.InodesUsedPercent)
	}
	return ""
}

func plannedFired(figures usage, rule *v1alpha1.VolumePolicy) string {
	trigger := rule.Trigger
	if percentReached(figures.usedPercent, trigger.UsedPercent) {
		return reasonThreshold("usedPercent", figures.usedPercent, trigger.UsedPercent)
	}
	if minFree := bytesOf(trigger.MinFree); minFree > 0 && figures.availableBytes < minFree {
		return reasonFreeBelow("minFree", figures.availableBytes, minFree)
	}
	if figures.inodesTotal > 0 && percentReached(figures.inodesUsedPercent(), trigger.InodesUsedPercent) {
		return reasonThreshold("inodesUsedPercent", figures.inodesUsedPercent(), trigger.InodesUsedPercent)
	}
	horizon := rule.Forecast.Horizon.Duration
	if horizon > 0 && figures.fillRateBytesPerSecond > 0 {
		untilTrigger := timeToTrigger(figures, trigger)
		if untilTrigger <= horizon {
			return reasonForecast(trigger, untilTrigger, figures.fillRateBytesPerSecond, horizon)
		}
	}
	return ""
}

// percentReached: a threshold at or below 0 is off (the CRD never admits
// one; a hand-built spec might).
func percentReached(value float64, threshold int32) bool {
	return threshold > 0 && value >= float64(threshold)
}

// timeToTrigger is how long the fill rate takes to reach the used-bytes
// level at which the usedPercent or minFree trigger fires.
func timeToTrigger(figures usage, trigger v1alpha1.Trigger) time.Duration {
	return secondsToDuration(bytesToTrigger(figures, trigger) / float64(figures.fillRateBytesPerSecond))
}

// bytesToTrigger is how many bytes are left to write before the usedPercent
// or minFree trigger fires (+Inf when neither is set).
func bytesToTrigger(figures usage, trigger v1alpha1.Trigger) float64 {
	triggerUsedBytes := math.Inf(1)
	if trigger.UsedPercent > 0 {
		triggerUsedBytes = float64(figures.capacityBytes) * float64(trigger.UsedPercent) / 100
	}
	if minFree := bytesOf(trigger.MinFree); minFree > 0 {
		triggerUsedBytes = min(triggerUsedBytes, float64(figures.capacityBytes-minFree))
	}
	return max(triggerUsedBytes-float64(figures.usedBytes), 0)
}

// secondsToDuration saturates instead of wrapping for absurd figures.
func secondsToDuration(seconds float64) time.Duration {
	if math.IsNaN(seconds) || seconds >= float64(math.MaxInt64)/float64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(seconds * float64(time.Second))
}
