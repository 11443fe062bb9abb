package plan

import (
	"strings"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// WALCause is the kind of WAL problem the WAL safety gate holds WAL growth
// for; alerts tell a failing archive from a forgotten slot by it.
type WALCause string

const (
	WALArchiveFailing WALCause = "ArchiveFailing"
	WALSlotRetention  WALCause = "SlotRetention"
	// WALHealthUnknown: the primary's WAL health could not be read.
	WALHealthUnknown WALCause = "Unknown"
)

// evaluateWALHealth reads the cluster's WAL health from the primary's observation
// and returns what is wrong with it, or "" when nothing the policy checks
// is wrong. Growing a WAL volume that fills because archiving broke or a
// slot is forgotten only delays the outage while backups silently stop.
func (p *planner) evaluateWALHealth() (WALCause, string) {
	checkArchive, maxRetention := p.walChecks()
	if !checkArchive && maxRetention == 0 {
		return "", ""
	}
	primary, problem := p.primaryObservation()
	if primary == nil {
		return WALHealthUnknown, problem
	}
	postgres := primary.Status.Postgres
	if !postgres.Reachable {
		return WALHealthUnknown, reasonWALUnknownUnreachable(primary.Instance, postgres.Reason)
	}
	if role := primary.Status.Role; role != v1alpha1.InstancePrimary {
		// After a failover CNPG names the new primary before its probe has
		// seen it promoted; a standby's archiver figures say nothing.
		return WALHealthUnknown, reasonWALUnknownNotYetPrimary(primary.Instance, role)
	}
	if archiving := postgres.Archiving; checkArchive && archiving != nil && archiving.Enabled && !archiving.Healthy {
		return WALArchiveFailing, reasonArchiveFailing(archiving, p.now)
	}
	if maxRetention > 0 {
		if slot := largestInactiveSlot(postgres.Slots); slot != nil && slot.RetainedBytes > maxRetention {
			return WALSlotRetention, reasonSlotRetention(slot, maxRetention)
		}
	}
	return "", ""
}

// walChecks are what the policy checks of WAL health: the archiver, and
// inactive slots' retention above a size (0: not checked).
func (p *planner) walChecks() (archive bool, maxRetentionBytes int64) {
	safety := p.spec.WALSafety
	return safety.RequireArchiveHealthy == nil || *safety.RequireArchiveHealthy, bytesOf(safety.MaxInactiveSlotRetention)
}

// primaryObservation finds the fresh observation of the primary: the
// instance the Cluster names, else the one that says it is primary.
func (p *planner) primaryObservation() (*Observation, string) {
	if p.snapshot.Primary != "" {
		observation := p.observations[p.snapshot.Primary]
		if observation == nil {
			return nil, reasonWALUnknownNoObservation(p.snapshot.Primary)
		}
		if stale := p.observationAgeHold(observation); stale != "" {
			return nil, reasonWALUnknownStale(p.snapshot.Primary, stale)
		}
		return observation, ""
	}
	for _, instance := range p.observationOrder {
		observation := p.observations[instance]
		if observation.Status.Role == v1alpha1.InstancePrimary && p.observationAgeHold(observation) == "" {
			return observation, ""
		}
	}
	return nil, reasonWALUnknownNoPrimary()
}

// largestInactiveSlot: retained WAL overlaps between slots, so the largest
// retention is what is held on disk. CNPG's own HA slots are not counted.
func largestInactiveSlot(slots []v1alpha1.SlotObservation) *v1alpha1.SlotObservation {
	var largest *v1alpha1.SlotObservation
	for index := range slots {
		slot := &slots[index]
		if slot.Active || slot.CNPGManaged || strings.HasPrefix(slot.Name, v1alpha1.CNPGSlotPrefix) {
			continue
		}
		if largest == nil || slot.RetainedBytes > largest.RetainedBytes {
			largest = slot
		}
	}
	return largest
}
