package plan

import (
	"slices"

	"k8s.io/apimachinery/pkg/api/resource"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// Explanation is Plan's result for one snapshot together with, for every
// PVC, the verdict of every gate in the order Plan checks them (kubectl
// pgstorage explain). It is made by the same run of the planner as the
// Result it carries, so it cannot tell a different story from Plan.
//
// Plan stops at the first gate that holds; an explanation goes on, and
// says for each later gate what it would say now: whether the storage
// class, the cooldown or the budget would hold next, once the first gate
// lifts. Those later verdicts are read after this plan's own growths are
// charged to the budget.
type Explanation struct {
	Result Result
	// Volumes follow Result.Volumes: one per PVC, in the same order.
	Volumes []VolumeExplanation
	// WALHealth is what the WAL safety gate reads on the primary, in words.
	WALHealth string
	// Window is whether a maintenance window is open, in words.
	Window string
}

// VolumeExplanation is one PVC: what its figures ask for, what Plan
// decided, and every gate's verdict.
type VolumeExplanation struct {
	// Row is the PVC's row of Result.Volumes (status.volumes).
	Row VolumeRow
	// Trigger is the threshold that fired on the PVC's figures, or why
	// none did.
	Trigger string
	// Wants is the growth the figures ask for; empty when none.
	Wants v1alpha1.GrowthKind
	// Target is the request the figures ask for; zero when they ask for
	// no growth.
	Target resource.Quantity
	// Decision is the patch Plan makes for the PVC (in dry-run mode: would
	// make); nil when none.
	Decision *Decision
	// Gates holds every gate, in GateOrder.
	Gates []GateVerdict
}

// Verdict is what one gate says about one PVC.
type Verdict string

const (
	// VerdictPass: the gate lets the growth through.
	VerdictPass Verdict = "pass"
	// VerdictHold: the gate holds the growth back.
	VerdictHold Verdict = "hold"
	// VerdictNotApplicable: the gate is not checked for this growth (an
	// emergency ignores windows; a catch-up is no budget action).
	VerdictNotApplicable Verdict = "n/a"
)

// GateVerdict is one gate's verdict on one PVC, with its reason.
type GateVerdict struct {
	Gate    Gate
	Verdict Verdict
	Reason  string
	// Reported: the gate Plan reports for the PVC (VolumeRow.Gate).
	Reported bool
}

// gateOrder is the order in which Plan checks the gates (doc.go).
var gateOrder = []Gate{
	GateNoRule, GateDryRun, GateStorageClass, GateObservation, GateInFlight,
	GateLimit, GateCooldown, GateWALSafety, GateWindow, GateBudget,
}

// GateOrder is the order in which Plan checks the gates; the first that
// holds is the one reported.
func GateOrder() []Gate { return slices.Clone(gateOrder) }

// Explain plans the snapshot, as Plan does, and explains every gate of
// every PVC.
func Explain(snapshot Snapshot) Explanation {
	p := newPlanner(snapshot)
	groups := p.decide()
	result := p.result()
	groupOf := map[*volume]*group{}
	for _, g := range groups {
		for _, v := range g.volumes {
			groupOf[v] = g
		}
	}
	explanation := Explanation{
		Result:    result,
		Volumes:   make([]VolumeExplanation, 0, len(p.volumes)),
		WALHealth: p.explainWALHealth(),
		Window:    explainWindow(p.windows, len(p.spec.MaintenanceWindows), p.now),
	}
	for index, v := range p.volumes {
		explanation.Volumes = append(explanation.Volumes, p.explainVolume(v, groupOf[v], result.Volumes[index]))
	}
	return explanation
}

// growthPath is how a PVC with a decision came to grow: the gates checked
// differ (followerHold, catchUp).
type growthPath int

const (
	pathNone growthPath = iota
	// pathDriver: its own figures asked for the growth.
	pathDriver
	// pathFollower: grown with its role to keep the instances uniform.
	pathFollower
	// pathCatchUp: raised to its role's current size; no budget action.
	pathCatchUp
)

func pathOf(v *volume) growthPath {
	switch {
	case v.decision == nil:
		return pathNone
	case v.decision.CatchUp:
		return pathCatchUp
	case v.followsReason != "":
		return pathFollower
	}
	return pathDriver
}

func (p *planner) explainVolume(v *volume, g *group, row VolumeRow) VolumeExplanation {
	out := VolumeExplanation{Row: row, Trigger: p.explainTrigger(v)}
	if v.wants() {
		out.Wants = v.trigger.want.kind()
		out.Target = quantityOf(v.targetBytes)
	}
	if v.decision != nil {
		decision := *v.decision
		out.Decision = &decision
	}
	path := pathOf(v)
	// The volume gates are checked for the growth the PVC's figures ask
	// for (a planned one when they ask for none); the role gates for the
	// role's growth, whose kind the most urgent driver sets.
	kind := v1alpha1.GrowthPlanned
	if v.wants() {
		kind = v.trigger.want.kind()
	}
	roleKind := kind
	if g.kind != "" && (path == pathFollower || slices.Contains(g.drivers, v)) {
		roleKind = g.kind
	}
	out.Gates = []GateVerdict{
		p.ruleVerdict(v),
		p.dryRunVerdict(),
		classVerdict(v),
		p.observationVerdict(v, path),
		inFlightVerdict(v, path),
		limitVerdict(v, path),
		p.cooldownVerdict(v, kind, path),
		p.walVerdict(g, roleKind, path),
		p.windowVerdict(roleKind, path),
		p.budgetVerdict(g, roleKind, path),
	}
	for index := range out.Gates {
		verdict := &out.Gates[index]
		// The gate that held this PVC in the run speaks with the words
		// the run gave it. A PVC held as a driver may still grow with its
		// role: then the hold no longer stands.
		if v.held != nil && v.decision == nil && verdict.Gate == v.held.gate {
			verdict.Verdict, verdict.Reason = VerdictHold, v.held.reason
		}
		verdict.Reported = row.Gate != "" && verdict.Gate == row.Gate
	}
	return out
}

func passes(gate Gate, reason string) GateVerdict {
	return GateVerdict{Gate: gate, Verdict: VerdictPass, Reason: reason}
}

func holds(gate Gate, h *hold) GateVerdict {
	return GateVerdict{Gate: gate, Verdict: VerdictHold, Reason: h.reason}
}

func notApplicable(gate Gate, reason string) GateVerdict {
	return GateVerdict{Gate: gate, Verdict: VerdictNotApplicable, Reason: reason}
}

func (p *planner) explainTrigger(v *volume) string {
	switch {
	case v.rule == nil:
		return reasonTriggerNotEvaluated("no rule grows this volume")
	case v.observed == nil:
		return reasonTriggerNotEvaluated("no fresh measurement")
	case v.wants():
		return v.trigger.fired
	}
	return reasonNothingFired(v.figures, v.rule)
}

func (p *planner) ruleVerdict(v *volume) GateVerdict {
	if v.ruleHold != nil {
		return holds(GateNoRule, v.ruleHold)
	}
	return passes(GateNoRule, reasonRulePasses(v.rulePath, v.rule))
}

func (p *planner) dryRunVerdict() GateVerdict {
	if p.spec.Mode == v1alpha1.ModeDryRun {
		return GateVerdict{Gate: GateDryRun, Verdict: VerdictHold, Reason: reasonDryRunHolds()}
	}
	return passes(GateDryRun, reasonEnforce())
}

func classVerdict(v *volume) GateVerdict {
	if v.classHold != nil {
		return holds(GateStorageClass, v.classHold)
	}
	return passes(GateStorageClass, reasonClassExpands(v.pvc.StorageClass, v.provider.name))
}

func (p *planner) observationVerdict(v *volume, path growthPath) GateVerdict {
	if path == pathFollower || path == pathCatchUp {
		return notApplicable(GateObservation, reasonObservationNotNeeded())
	}
	if h := v.observationHold; h != nil && h.gate == GateObservation {
		return holds(GateObservation, h)
	}
	observedAt := p.observations[v.pvc.Instance].Status.ObservedAt.Time
	return passes(GateObservation, reasonObservationFresh(v.pvc.Instance, p.now.Sub(observedAt), p.maxAge))
}

func inFlightVerdict(v *volume, path growthPath) GateVerdict {
	if v.unboundHold != nil {
		return holds(GateInFlight, v.unboundHold)
	}
	if v.inFlightHold != nil {
		return holds(GateInFlight, v.inFlightHold)
	}
	// A filesystem kubelet has not grown yet is the tail of a growth; it
	// holds a measurement, which a PVC grown with its role does not need.
	if h := v.observationHold; h != nil && h.gate == GateInFlight && path != pathFollower && path != pathCatchUp {
		return holds(GateInFlight, h)
	}
	return passes(GateInFlight, reasonNothingInFlight(v.requestBytes, v.capacityBytes))
}

func limitVerdict(v *volume, path growthPath) GateVerdict {
	switch {
	case v.rule == nil:
		return notApplicable(GateLimit, reasonTriggerNotEvaluated("no rule, so no limit"))
	case path == pathFollower || path == pathCatchUp:
		return passes(GateLimit, reasonTargetWithinLimit(bytesOf(v.decision.To), v.limitBytes))
	case v.wants() && v.targetBytes <= v.requestBytes:
		return GateVerdict{Gate: GateLimit, Verdict: VerdictHold, Reason: reasonAtLimit(v)}
	case v.wants():
		return passes(GateLimit, reasonTargetWithinLimit(v.targetBytes, v.limitBytes))
	case v.requestBytes >= v.limitBytes:
		return GateVerdict{Gate: GateLimit, Verdict: VerdictHold, Reason: reasonAtLimitIdle(v.limitBytes, v.rulePath)}
	}
	return passes(GateLimit, reasonRoomBelowLimit(v.requestBytes, v.limitBytes))
}

func (p *planner) cooldownVerdict(v *volume, kind v1alpha1.GrowthKind, path growthPath) GateVerdict {
	follower := path == pathFollower || path == pathCatchUp
	if follower {
		// followerHold: a PVC sized by its role waits only for the provider.
		kind = v1alpha1.GrowthEmergency
	}
	if h := cooldownHold(v, kind, p.now); h != nil {
		return holds(GateCooldown, h)
	}
	return passes(GateCooldown, reasonCooldownOver(v, kind, follower, p.now))
}

func (p *planner) walVerdict(g *group, kind v1alpha1.GrowthKind, path growthPath) GateVerdict {
	switch {
	case path == pathCatchUp:
		return notApplicable(GateWALSafety, reasonCatchUpNotHeld("WAL health"))
	case !g.walBearing():
		return notApplicable(GateWALSafety, reasonNotWALBearing(g.role, g.tablespace))
	}
	if archive, maxRetention := p.walChecks(); !archive && maxRetention == 0 {
		return passes(GateWALSafety, reasonWALNotChecked())
	}
	if h := walSafetyHold(p.walProblem, kind, p.spec.WALSafety.BlockEmergencyGrowth); h != nil {
		return holds(GateWALSafety, h)
	}
	if p.walProblem != "" {
		return passes(GateWALSafety, reasonWALEmergencyNotHeld(p.walProblem))
	}
	return passes(GateWALSafety, reasonWALHealthy(p.primaryInstance))
}

func (p *planner) windowVerdict(kind v1alpha1.GrowthKind, path growthPath) GateVerdict {
	switch {
	case path == pathCatchUp:
		return notApplicable(GateWindow, reasonCatchUpNotHeld("maintenance windows"))
	case kind == v1alpha1.GrowthEmergency:
		return notApplicable(GateWindow, reasonEmergencyIgnoresWindows())
	case p.windows.open:
		return passes(GateWindow, explainWindow(p.windows, len(p.spec.MaintenanceWindows), p.now))
	}
	return GateVerdict{Gate: GateWindow, Verdict: VerdictHold, Reason: reasonWindowClosed(p.windows, p.now)}
}

func (p *planner) budgetVerdict(g *group, kind v1alpha1.GrowthKind, path growthPath) GateVerdict {
	switch path {
	case pathCatchUp:
		return notApplicable(GateBudget, reasonCatchUpNotHeld("the budget"))
	case pathDriver, pathFollower:
		if slices.ContainsFunc(p.budget.added, func(action v1alpha1.BudgetAction) bool {
			return action.Role == g.role && action.Tablespace == g.tablespace && action.Instance == g.instance &&
				bytesOf(action.To) == g.targetBytes
		}) {
			return passes(GateBudget, reasonBudgetCharged(p.budget, g.kind))
		}
		return passes(GateBudget, reasonBudgetContinues(g.role, g.tablespace, g.targetBytes))
	}
	if h := budgetHold(p.budget, kind, p.now); h != nil {
		return holds(GateBudget, h)
	}
	return passes(GateBudget, reasonBudgetLeft(p.budget, kind))
}

func (p *planner) explainWALHealth() string {
	if archive, maxRetention := p.walChecks(); !archive && maxRetention == 0 {
		return reasonWALNotChecked()
	}
	if p.walProblem != "" {
		return p.walProblem
	}
	return reasonWALHealthy(p.primaryInstance)
}
