package plan

import (
	"slices"

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
	var sizes []EffectiveSize
	var sizesBytes []int64
	for _, v := range p.volumes {
		if roleRank(v.pvc.Role) > 2 {
			continue
		}
		bytes := v.requestBytes
		if withDecisions && v.decision != nil {
			bytes = max(bytes, bytesOf(v.decision.To))
		}
		last := len(sizes) - 1
		if last >= 0 && sizes[last].Role == v.pvc.Role && sizes[last].Tablespace == v.pvc.Tablespace {
			sizesBytes[last] = max(sizesBytes[last], bytes)
			continue
		}
		sizes = append(sizes, EffectiveSize{Role: v.pvc.Role, Tablespace: v.pvc.Tablespace})
		sizesBytes = append(sizesBytes, bytes)
	}
	for index := range sizes {
		sizes[index].Size = quantityOf(sizesBytes[index])
	}
	return sizes
}
