package plan

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// Retry lowers the request of a PVC whose growth the storage driver refused
// as infeasible to a smaller growth, once (onInfeasible: Retry). Kubernetes
// 1.34 accepts a request lowered to any size above status.capacity
// (RecoverVolumeExpansionFailure, GA).
//
// A retry is no new budget action: it replaces the refused growth, which
// was charged when it was patched. Charging it again would let one refusal
// by the storage backend use two of the day's actions, and could take the
// last one emergency growth of another role needs.
type Retry struct {
	PVC        string
	Instance   string
	Role       v1alpha1.VolumeRole
	Tablespace string
	// Refused is the request the driver refused.
	Refused resource.Quantity
	// To is the smaller request.
	To   resource.Quantity
	Kind v1alpha1.GrowthKind
	// RefusedGrowth is the time of the history entry of the refused growth,
	// which the controller marks Failed with the driver's words.
	RefusedGrowth metav1.Time
	// Status is where the protocol said so (ControllerResizeInfeasible),
	// Message the driver's words.
	Status  string
	Message string
}

// Refusal says who refused and in which words.
func (r Retry) Refusal() string {
	return reasonRefusal(Expansion{Status: r.Status, Message: r.Message})
}

// retryTarget is the smaller request after a refused growth from
// capacityBytes to refusedBytes: the capacity plus half the refused step,
// at least one granule above the capacity, rounded up to the granularity
// every provider allocates in (whole GiB; tiers are billing, not
// allocation, and rounding up to one could land on the refused size).
// 0 when no such size is below the refused one.
func retryTarget(capacityBytes, refusedBytes int64) int64 {
	if capacityBytes <= 0 || refusedBytes <= capacityBytes {
		return 0
	}
	half := (refusedBytes - capacityBytes) / 2
	target := roundUpBytes(max(capacityBytes+half, capacityBytes+gibibyte), gibibyte)
	if target >= refusedBytes {
		return 0
	}
	return target
}

// lastGrowthRecord is the newest history entry naming the PVC, or nil.
func (p *planner) lastGrowthRecord(pvc string) *v1alpha1.GrowthRecord {
	var latest *v1alpha1.GrowthRecord
	for index := range p.snapshot.History {
		record := &p.snapshot.History[index]
		for _, name := range record.PVCs {
			if name == pvc && (latest == nil || !record.Time.Before(&latest.Time)) {
				latest = record
			}
		}
	}
	return latest
}

// planRetry decides whether a PVC whose growth the driver refused gets its
// one smaller try. Only the controller side's refusal is retried: after
// NodeResizeInfeasible the disk has grown and only the filesystem failed,
// which a smaller request does not change. Only the add-on's own growth is
// retried (the request is its recorded target), and only once (the newest
// entry is not already a retry). The hold's reason says what happens.
func (p *planner) planRetry(v *volume) {
	if v.rule == nil || v.inFlightHold == nil || v.expansion.Phase != ExpansionInfeasible ||
		v.expansion.Status != statusControllerInfeasible || p.spec.Mode == v1alpha1.ModeDryRun {
		return
	}
	retryPath := v.rulePath + ".onInfeasible"
	if v.rule.OnInfeasible != v1alpha1.InfeasibleRetry {
		return
	}
	record := p.lastGrowthRecord(v.pvc.Name)
	switch {
	case record == nil || (!record.Retry && bytesOf(record.To) != v.requestBytes):
		v.inFlightHold.reason = reasonRetryNotOurs(v.inFlightHold.reason, retryPath)
		return
	case record.Retry:
		v.inFlightHold.reason = reasonRetryRefusedToo(v.inFlightHold.reason, record.From, retryPath)
		return
	}
	target := retryTarget(v.capacityBytes, v.requestBytes)
	if target == 0 {
		v.inFlightHold.reason = reasonRetryNoSmallerSize(v.inFlightHold.reason, v.capacityBytes, retryPath)
		return
	}
	v.retry = &Retry{
		PVC:           v.pvc.Name,
		Instance:      v.pvc.Instance,
		Role:          v.pvc.Role,
		Tablespace:    v.pvc.Tablespace,
		Refused:       quantityOf(v.requestBytes),
		To:            quantityOf(target),
		Kind:          record.Kind,
		RefusedGrowth: record.Time,
		Status:        v.expansion.Status,
		Message:       v.expansion.Message,
	}
	v.inFlightHold = &hold{gate: GateInFlight, state: v1alpha1.VolumeGrowing,
		reason: reasonRetrying(v.requestBytes, target, v.capacityBytes, v.expansion, retryPath)}
}

// keptBelowRefusedSize: a PVC whose newest entry is a retry is not caught
// up to a size its driver refused; it grows again when its own trigger
// fires, as a new growth.
func (p *planner) keptBelowRefusedSize(v *volume, targetBytes int64) bool {
	record := p.lastGrowthRecord(v.pvc.Name)
	return record != nil && record.Retry && targetBytes >= bytesOf(record.From)
}
