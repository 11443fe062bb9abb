package plan

import (
	"cmp"
	"slices"
	"time"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// volume is what the planner knows and decides about one PVC.
type volume struct {
	pvc           PVC
	requestBytes  int64
	capacityBytes int64
	primary       bool
	walBearing    bool
	lastGrowth    time.Time
	// modifications are the growths of this PVC that status.history and
	// lastGrowth record, for the provider's per-volume limit.
	modifications []time.Time

	rule       *v1alpha1.VolumePolicy
	rulePath   string // spec.volumes.<...>, for reasons
	limitBytes int64
	ruleHold   *hold

	class     *StorageClass
	classHold *hold
	provider  providerProfile

	// observed is set when fresh statfs figures back the volume.
	observed        *v1alpha1.ObservedVolume
	figures         usage
	observationHold *hold
	// expansion is the PVC's reading of the expansion protocol.
	expansion    Expansion
	inFlightHold *hold
	// unboundHold holds a claim that is not bound yet: its spec cannot
	// change until it is (it reports as the in-flight gate).
	unboundHold *hold
	// retry lowers the request of a refused growth (onInfeasible: Retry).
	retry *Retry

	trigger     triggerResult
	targetBytes int64

	// decision is the patch for this PVC, when there is one.
	decision *Decision
	// held is the gate that holds a growth this PVC wants.
	held *hold
	// followsReason says why a PVC that wants nothing is grown or queued
	// with its role.
	followsReason string
}

func (v *volume) wants() bool { return v.trigger.want != wantNothing }

// roleRank orders roles so that WAL, the outage risk, is decided and
// charged first.
func roleRank(role v1alpha1.VolumeRole) int {
	switch role {
	case v1alpha1.RoleWAL:
		return 0
	case v1alpha1.RoleData:
		return 1
	case v1alpha1.RoleTablespace:
		return 2
	}
	return 3
}

func compareVolumes(a, b *volume) int {
	return cmp.Or(
		cmp.Compare(roleRank(a.pvc.Role), roleRank(b.pvc.Role)),
		cmp.Compare(a.pvc.Role, b.pvc.Role),
		cmp.Compare(a.pvc.Tablespace, b.pvc.Tablespace),
		cmp.Compare(a.pvc.Instance, b.pvc.Instance),
		cmp.Compare(a.pvc.Name, b.pvc.Name),
	)
}

// collectVolumes builds the facts of every PVC and evaluates what each one
// asks for on its own: rule, class, observation, in flight, trigger, target.
func (p *planner) collectVolumes() {
	instancesWithWAL := map[string]bool{}
	for _, pvc := range p.snapshot.PVCs {
		if pvc.Role == v1alpha1.RoleWAL {
			instancesWithWAL[pvc.Instance] = true
		}
	}
	lastGrowthFromHistory := map[string]time.Time{}
	modifications := map[string][]time.Time{}
	for _, record := range p.snapshot.History {
		for _, name := range record.PVCs {
			if record.Time.After(lastGrowthFromHistory[name]) {
				lastGrowthFromHistory[name] = record.Time.Time
			}
			modifications[name] = append(modifications[name], record.Time.Time)
		}
	}
	p.volumes = make([]*volume, 0, len(p.snapshot.PVCs))
	for _, pvc := range p.snapshot.PVCs {
		v := &volume{
			pvc:           pvc,
			requestBytes:  bytesOf(pvc.Request),
			capacityBytes: bytesOf(pvc.Capacity),
			primary:       pvc.Instance != "" && pvc.Instance == p.primaryInstance,
			walBearing:    pvc.Role == v1alpha1.RoleWAL || (pvc.Role == v1alpha1.RoleData && !instancesWithWAL[pvc.Instance]),
			lastGrowth:    pvc.LastGrowth,
		}
		if fromHistory := lastGrowthFromHistory[pvc.Name]; fromHistory.After(v.lastGrowth) {
			v.lastGrowth = fromHistory
		}
		v.modifications = modificationTimes(modifications[pvc.Name], pvc.LastGrowth)
		p.resolveRule(v)
		v.class = p.classes[pvc.StorageClass]
		v.classHold = storageClassHold(pvc, v.class)
		v.provider = resolveProvider(p.spec.Provider, v.class)
		v.expansion = ReadExpansion(pvc, v.lastGrowth, p.now, p.snapshot.ResizeTimeout.Duration)
		v.inFlightHold = inFlightHold(v, p.snapshot.ResizeTimeout.Duration)
		if pvc.Unbound {
			v.unboundHold = &hold{gate: GateInFlight, reason: reasonUnbound()}
		}
		p.planRetry(v)
		p.observe(v)
		if v.observed != nil && v.rule != nil {
			v.trigger = evaluateTriggers(v.figures, v.rule)
			if v.wants() {
				v.targetBytes = targetRequest(sizing{
					requestBytes:  v.requestBytes,
					capacityBytes: v.capacityBytes,
					limitBytes:    v.limitBytes,
					figures:       v.figures,
					provider:      v.provider,
				}, v.rule)
			}
		}
		p.volumes = append(p.volumes, v)
	}
	slices.SortStableFunc(p.volumes, compareVolumes)
}

// resolveRule finds the policy rule of the PVC's role and refuses to grow
// without one, while disabled, or without a limit.
func (p *planner) resolveRule(v *volume) {
	volumes := p.spec.Volumes
	switch v.pvc.Role {
	case v1alpha1.RoleData:
		v.rule, v.rulePath = &volumes.Data, "spec.volumes.data"
	case v1alpha1.RoleWAL:
		v.rule, v.rulePath = volumes.WAL, "spec.volumes.wal"
	case v1alpha1.RoleTablespace:
		if volumes.Tablespaces != nil {
			if rule, found := volumes.Tablespaces.ByName[v.pvc.Tablespace]; found {
				v.rule, v.rulePath = &rule, "spec.volumes.tablespaces.byName."+v.pvc.Tablespace
			} else {
				v.rule, v.rulePath = volumes.Tablespaces.Default, "spec.volumes.tablespaces.default"
			}
		} else {
			v.rulePath = "spec.volumes.tablespaces"
		}
	default:
		v.ruleHold = &hold{gate: GateNoRule, reason: reasonUnknownRole(v.pvc.Role)}
		return
	}
	switch {
	case v.rule == nil:
		v.ruleHold = &hold{gate: GateNoRule, reason: reasonNoRule(v.rulePath)}
	case !v.rule.GrowthEnabled():
		v.ruleHold = &hold{gate: GateNoRule, reason: reasonGrowthDisabled(v.rulePath)}
	case v.rule.Limit == nil || bytesOf(*v.rule.Limit) <= 0:
		v.ruleHold = &hold{gate: GateNoRule, reason: reasonNoLimit(v.rulePath)}
	default:
		v.limitBytes = bytesOf(*v.rule.Limit)
	}
	if v.ruleHold != nil {
		v.rule = nil
	}
}

// observe attaches the PVC's fresh statfs figures, or says why there are none.
func (p *planner) observe(v *volume) {
	observation := p.observations[v.pvc.Instance]
	if observation == nil {
		v.observationHold = &hold{gate: GateObservation, reason: reasonNoObservation(v.pvc.Instance)}
		return
	}
	if stale := p.observationAgeHold(observation); stale != "" {
		v.observationHold = &hold{gate: GateObservation, reason: stale}
		return
	}
	observed := findObservedVolume(observation.Status.Volumes, v.pvc)
	switch {
	case observed == nil:
		v.observationHold = &hold{gate: GateObservation, reason: reasonVolumeNotObserved(v.pvc.Name, v.pvc.Instance)}
		return
	case observed.CapacityBytes <= 0:
		v.observationHold = &hold{gate: GateObservation, reason: reasonNoCapacityObserved(v.pvc.Name, v.pvc.Instance)}
		return
	}
	observedAt := observation.Status.ObservedAt.Time
	if !v.lastGrowth.IsZero() && observedAt.Before(v.lastGrowth) {
		v.observationHold = &hold{gate: GateObservation, reason: reasonAwaitingMeasurement(v.lastGrowth, p.now), state: v1alpha1.VolumeGrowing}
		return
	}
	figures := usageOf(observed).currentAt(p.now.Sub(observedAt))
	pvcBytes := v.capacityBytes
	if pvcBytes > 0 && float64(figures.capacityBytes) < minFilesystemRatio*float64(pvcBytes) {
		// The PVC grew but kubelet has not grown the filesystem yet: its
		// figures would ask for the same growth again.
		v.observationHold = &hold{gate: GateInFlight, reason: reasonFilesystemBehind(figures.capacityBytes, pvcBytes)}
		return
	}
	v.observed = observed
	v.figures = figures
	p.noteRequeue(observedAt.Add(p.maxAge))
}

// observationAgeHold returns why an observation is too old (or from the
// future) to decide on, or "".
func (p *planner) observationAgeHold(observation *Observation) string {
	observedAt := observation.Status.ObservedAt
	if observedAt == nil || observedAt.IsZero() {
		return reasonObservationNotMeasured(observation.Instance)
	}
	age := p.now.Sub(observedAt.Time)
	switch {
	case age > p.maxAge:
		return reasonObservationStale(observation.Instance, age, p.maxAge)
	case age < -p.maxAge:
		return reasonObservationFuture(observation.Instance, observedAt.Time)
	}
	return ""
}

// FindObservedVolume is the volume of an observation that measures pvc,
// matched as the planner matches them; nil when there is none. kubectl
// pgstorage simulate overrides the figures of exactly that volume.
func FindObservedVolume(observed []v1alpha1.ObservedVolume, pvc PVC) *v1alpha1.ObservedVolume {
	return findObservedVolume(observed, pvc)
}

// findObservedVolume matches by PVC name, else by role and tablespace when
// exactly one volume of the observation has them.
func findObservedVolume(observed []v1alpha1.ObservedVolume, pvc PVC) *v1alpha1.ObservedVolume {
	var byRole *v1alpha1.ObservedVolume
	matches := 0
	for index := range observed {
		candidate := &observed[index]
		if candidate.PVC == pvc.Name && pvc.Name != "" {
			return candidate
		}
		if candidate.PVC == "" && candidate.Role == pvc.Role && candidate.Tablespace == pvc.Tablespace {
			byRole = candidate
			matches++
		}
	}
	if matches == 1 {
		return byRole
	}
	return nil
}

// modificationTimes are the distinct times a PVC was grown, oldest first:
// every status.history entry naming it (a failed growth may still have
// been a modification at the provider, so it counts), and lastGrowth,
// which is usually one of them. status.history keeps the last
// v1alpha1.HistoryLength growths; a modification it no longer holds is
// not counted, and should the provider then refuse, its error holds the
// PVC in the in-flight gate.
func modificationTimes(fromHistory []time.Time, lastGrowth time.Time) []time.Time {
	times := slices.Clone(fromHistory)
	if !lastGrowth.IsZero() {
		times = append(times, lastGrowth)
	}
	for index := range times {
		// metav1.Time keeps whole seconds.
		times[index] = times[index].Truncate(time.Second)
	}
	slices.SortFunc(times, time.Time.Compare)
	return slices.CompactFunc(times, time.Time.Equal)
}
