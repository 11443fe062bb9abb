package plan

import (
	"slices"

	"k8s.io/apimachinery/pkg/api/resource"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// result assembles the Result from the decided volumes.
func (p *planner) result() Result {
	result := Result{
		Volumes:        make([]VolumeRow, 0, len(p.volumes)),
		EffectiveSizes: p.effectiveSizes(),
		Pending:        p.pending,
		Budget:         p.budget.usage(),
		NewActions:     slices.Clone(p.budget.added),
		WALCause:       p.walCause,
	}
	dryRun := p.spec.Mode == v1alpha1.ModeDryRun
	for _, v := range p.volumes {
		row := p.row(v)
		if v.retry != nil {
			result.Retries = append(result.Retries, *v.retry)
		}
		if v.decision != nil {
			if dryRun {
				result.WouldGrow = append(result.WouldGrow, *v.decision)
			} else {
				result.Decisions = append(result.Decisions, *v.decision)
			}
		}
		if dryRun && (v.decision != nil || v.wants()) && v.ruleHold == nil {
			row.State = v1alpha1.VolumeBlocked
			row.Gate = GateDryRun
			row.Reason = reasonDryRun(row.Reason)
		}
		result.Volumes = append(result.Volumes, row)
	}
	if dryRun {
		// Nothing is patched, so nothing is charged, queued or resized:
		// status must not claim otherwise.
		result.Pending = nil
		result.NewActions = nil
		result.Budget = newBudget(p.spec.Budget, p.snapshot.Budget, p.now).usage()
		result.EffectiveSizes = p.currentSizes()
	}
	result.RequeueAt = p.requeueAt
	return result
}

// row is the status row of one PVC: its figures, state and reason.
func (p *planner) row(v *volume) VolumeRow {
	row := VolumeRow{
		PVC:        v.pvc.Name,
		Instance:   v.pvc.Instance,
		Role:       v.pvc.Role,
		Tablespace: v.pvc.Tablespace,
		Primary:    v.primary,
		Requested:  v.pvc.Request,
		Capacity:   v.pvc.Capacity,
		LastGrowth: v.lastGrowth,
	}
	if v.observed != nil {
		row.Observed = true
		row.UsedBytes = v.figures.usedBytes
		row.FreeBytes = v.figures.availableBytes
		row.UsedPercent = v.figures.usedPercent
		row.FillRateBytesPerHour = v.figures.fillRateBytesPerSecond * 3600
		row.TimeToFull = v.figures.timeToFull()
		row.InodesTotal = v.figures.inodesTotal
		row.InodesFree = v.figures.inodesFree
	}
	if v.rule != nil {
		row.CriticalUsedPercent = v.rule.Critical.UsedPercent
		row.LimitBytes = v.limitBytes
	}
	switch {
	case v.decision != nil:
		row.State = v1alpha1.VolumeGrowing
		row.Reason = reasonGrowing(v)
	case v.held != nil:
		row.State = v.held.volumeState()
		row.Gate = v.held.gate
		row.Reason = v.held.reason
		if v.wants() {
			row.Reason = reasonHeld(v, v.held.reason)
		}
	case v.inFlightHold != nil:
		row.State = v.inFlightHold.volumeState()
		row.Gate = v.inFlightHold.gate
		row.Reason = v.inFlightHold.reason
	case v.ruleHold != nil:
		row.State = v1alpha1.VolumeIdle
		row.Gate = GateNoRule
		row.Reason = v.ruleHold.reason
	case v.observationHold != nil:
		row.State = v.observationHold.volumeState()
		row.Gate = v.observationHold.gate
		row.Reason = v.observationHold.reason
	default:
		row.State = v1alpha1.VolumeIdle
		row.Reason = reasonIdle(v)
	}
	return row
}

// effectiveSizes per role: the largest request, or the size a decision
// grows the role to.
func (p *planner) effectiveSizes() []EffectiveSize {
	return p.sizes(true)
}

func (p *planner) currentSizes() []EffectiveSize {
	return p.sizes(false)
}

func (p *planner) sizes(withDecisions bool) []EffectiveSize {
	pvcs := make([]PVC, 0, len(p.volumes))
	growingTo := map[string]resource.Quantity{}
	for _, v := range p.volumes {
		pvcs = append(pvcs, v.pvc)
		if withDecisions && v.decision != nil {
			growingTo[v.pvc.Name] = v.decision.To
		}
	}
	return EffectiveSizesOf(pvcs, growingTo)
}

// EffectiveSizesOf is the one rule of a role's effective size
// (status.effectiveSizes, which the PVC webhook gives new PVCs): the largest
// request among the role's PVCs, each raised to the size it is being grown
// to (growingTo, by PVC name). The planner applies it to its decisions; the
// controller's report to the patches the API server accepted.
func EffectiveSizesOf(pvcs []PVC, growingTo map[string]resource.Quantity) []EffectiveSize {
	var sizes []EffectiveSize
	type roleKey struct {
		role       v1alpha1.VolumeRole
		tablespace string
	}
	index := map[roleKey]int{}
	for _, pvc := range pvcs {
		if roleRank(pvc.Role) > 2 {
			continue
		}
		size := pvc.Request
		if to, ok := growingTo[pvc.Name]; ok && to.Cmp(size) > 0 {
			size = to
		}
		key := roleKey{pvc.Role, pvc.Tablespace}
		if at, seen := index[key]; seen {
			if size.Cmp(sizes[at].Size) > 0 {
				sizes[at].Size = size
			}
			continue
		}
		index[key] = len(sizes)
		sizes = append(sizes, EffectiveSize{Role: pvc.Role, Tablespace: pvc.Tablespace, Size: size})
	}
	return sizes
}
