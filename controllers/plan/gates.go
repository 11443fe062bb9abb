package plan

import (
	"time"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// Gate names what holds a growth back. The gates are checked in the order
// of the constants below; the first that holds is the one reported.
type Gate string

const (
	// GateNoRule: the role has no rule, growth is disabled, or no limit is set.
	GateNoRule Gate = "NoRule"
	// GateDryRun: spec.mode is DryRun; nothing is patched.
	GateDryRun Gate = "DryRun"
	// GateStorageClass: the StorageClass does not allow expansion, or is unknown.
	GateStorageClass Gate = "StorageClassNotExpandable"
	// GateObservation: no fresh statfs figures for the PVC.
	GateObservation Gate = "ObservationStale"
	// GateInFlight: a growth of the PVC has not finished.
	GateInFlight Gate = "ResizeInProgress"
	// GateLimit: the PVC is at its role's limit.
	GateLimit Gate = "AtLimit"
	// GateCooldown: the PVC grew too recently.
	GateCooldown Gate = "Cooldown"
	// GateWALSafety: archiving fails, a slot retains too much WAL, or WAL
	// health is unknown.
	GateWALSafety Gate = "WALSafety"
	// GateWindow: no maintenance window is open; planned growth is queued.
	GateWindow Gate = "MaintenanceWindow"
	// GateBudget: the rolling 24h budget is used up.
	GateBudget Gate = "Budget"
)

// state is the volume state a gate puts a PVC in.
func (g Gate) state() v1alpha1.VolumeState {
	switch g {
	case GateObservation:
		return v1alpha1.VolumeStale
	case GateInFlight:
		return v1alpha1.VolumeGrowing
	case GateLimit:
		return v1alpha1.VolumeAtLimit
	case GateWindow:
		return v1alpha1.VolumeQueued
	}
	return v1alpha1.VolumeBlocked
}

// hold is a gate that holds, why, and when it may lift by itself.
type hold struct {
	gate   Gate
	reason string
	// until is when the hold lifts without any object changing; zero when
	// only a change (a fixed archive, a new observation) lifts it.
	until time.Time
	// state overrides the gate's state (a PVC waiting for its first
	// measurement after a growth is Growing, not Stale).
	state v1alpha1.VolumeState
}

func (h *hold) volumeState() v1alpha1.VolumeState {
	if h.state != "" {
		return h.state
	}
	return h.gate.state()
}

// storageClassHold: a PVC whose class cannot expand cannot be grown; an
// unknown class is treated the same, since patching would be refused.
func storageClassHold(pvc PVC, class *StorageClass) *hold {
	switch {
	case pvc.StorageClass == "":
		return &hold{gate: GateStorageClass, reason: reasonNoStorageClass()}
	case class == nil:
		return &hold{gate: GateStorageClass, reason: reasonStorageClassMissing(pvc.StorageClass)}
	case !class.AllowVolumeExpansion:
		return &hold{gate: GateStorageClass, reason: reasonStorageClassFixed(pvc.StorageClass)}
	}
	return nil
}

// inFlightHold follows the Kubernetes expansion protocol as ReadExpansion
// reads it: a growth that has not finished holds the PVC, and another is
// never stacked on it; one that failed holds it Blocked, with the driver's
// words.
func inFlightHold(v *volume, timeout time.Duration) *hold {
	reading := v.expansion
	switch reading.Phase {
	case ExpansionSettled:
		return nil
	case ExpansionInfeasible:
		return &hold{gate: GateInFlight, reason: reasonResizeFailed(v.requestBytes, reading.Status, reading.Message), state: v1alpha1.VolumeBlocked}
	case ExpansionStuck:
		return &hold{gate: GateInFlight, reason: reasonResizeStuck(v.requestBytes, v.capacityBytes, reading, timeout), state: v1alpha1.VolumeBlocked}
	}
	return &hold{gate: GateInFlight, reason: reasonResizeInProgress(v.requestBytes, v.capacityBytes, reading.Status, reading.Message)}
}

// cooldownHold: planned growth waits the policy cooldown; any growth, even
// an emergency, waits for the provider's per-volume modification limit,
// which the provider would enforce by refusing the patch anyway. When both
// hold, the one that lasts longer is reported.
func cooldownHold(v *volume, kind v1alpha1.GrowthKind, now time.Time) *hold {
	provider := providerLimitHold(v, kind, now)
	if kind != v1alpha1.GrowthPlanned || v.rule == nil || v.lastGrowth.IsZero() {
		return provider
	}
	wait := effectiveCooldown(v.rule)
	ends := v.lastGrowth.Add(wait)
	if wait <= 0 || !now.Before(ends) || (provider != nil && !provider.until.Before(ends)) {
		return provider
	}
	if _, overtaken := criticalBeforeCooldownEnds(v, now); overtaken {
		return provider
	}
	return &hold{gate: GateCooldown, reason: reasonCooldown(v, wait, ends, now), until: ends}
}

// criticalBeforeCooldownEnds: at the rate growths are sized for, the volume
// reaches its critical threshold before a growth decided when the cooldown
// ends could land (the reaction allowance after it). Waiting would only turn
// this planned growth into an emergency with less room left; it is one
// action either way, so the cooldown does not hold it (issue #21: a fill
// that started calm gets its first growth sized by the step, before the
// sidecar has measured a rate). untilCritical is how long the rate takes.
func criticalBeforeCooldownEnds(v *volume, now time.Time) (untilCritical time.Duration, overtaken bool) {
	if v.rule == nil || v.lastGrowth.IsZero() || v.figures.coverRate() <= 0 {
		return 0, false
	}
	untilCritical = timeToTrigger(v.figures.atCoverRate(), criticalTrigger(v.rule.Critical))
	deadline := v.lastGrowth.Add(effectiveCooldown(v.rule) + growthReactionAllowance)
	return untilCritical, now.Add(untilCritical).Before(deadline)
}

// providerLimitHold: the provider accepts at most modificationsPerDay
// modifications of one volume in a rolling 24h. The next is possible when
// enough of the recorded ones have left the 24h.
func providerLimitHold(v *volume, kind v1alpha1.GrowthKind, now time.Time) *hold {
	limit := v.provider.modificationsPerDay
	if limit <= 0 {
		return nil
	}
	var recent []time.Time
	for _, at := range v.modifications {
		if at.Add(providerModificationWindow).After(now) {
			recent = append(recent, at)
		}
	}
	if len(recent) < limit {
		return nil
	}
	possibleAt := recent[len(recent)-limit].Add(providerModificationWindow)
	return &hold{gate: GateCooldown, reason: reasonProviderLimit(v, kind, recent, possibleAt, now), until: possibleAt}
}

// providerModificationWindow is the rolling period of a provider's
// per-volume modification limit.
const providerModificationWindow = 24 * time.Hour

// walSafetyHold applies the WAL health of the cluster to a growth of a
// WAL-bearing volume: always to planned growth, to emergency growth only
// when the user opted into that outage risk.
func walSafetyHold(walProblem string, kind v1alpha1.GrowthKind, blockEmergency bool) *hold {
	if walProblem == "" {
		return nil
	}
	if kind == v1alpha1.GrowthEmergency && !blockEmergency {
		return nil
	}
	return &hold{gate: GateWALSafety, reason: reasonWALHeld(walProblem, kind)}
}

// windowHold queues planned growth while no maintenance window is open.
func windowHold(windows windowState, targetBytes int64, now time.Time) *hold {
	if windows.open {
		return nil
	}
	return &hold{gate: GateWindow, reason: reasonQueuedForWindow(windows, targetBytes, now), until: windows.nextOpen}
}

// budgetHold: the growth would take more than the rolling 24h allows.
func budgetHold(b *budget, kind v1alpha1.GrowthKind, now time.Time) *hold {
	if b.left(kind) > 0 {
		return nil
	}
	freesAt := b.freesAt(kind)
	return &hold{gate: GateBudget, reason: reasonBudgetUsed(b, kind, freesAt, now), until: freesAt}
}
