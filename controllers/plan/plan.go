package plan

import (
	"cmp"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// Plan decides, for one snapshot, which PVCs to grow now and why every
// other PVC is left alone. It is a pure function: the same snapshot always
// gives the same result.
func Plan(snapshot Snapshot) Result {
	p := newPlanner(snapshot)
	p.decide()
	return p.result()
}

// decide runs the planner's steps; Plan and Explain share them, so that an
// explanation is of the very decisions Plan makes.
func (p *planner) decide() []*group {
	p.collectVolumes()
	groups := p.groupVolumes()
	p.proposeGrowths(groups)
	p.decideGrowths(groups)
	p.catchUp(groups)
	return groups
}

// planner carries one Plan call's working state; nothing outlives the call.
type planner struct {
	snapshot         Snapshot
	spec             v1alpha1.StorageAutoscalePolicySpec
	now              time.Time
	maxAge           time.Duration
	primaryInstance  string
	observations     map[string]*Observation
	observationOrder []string
	classes          map[string]*StorageClass

	volumes    []*volume
	windows    windowState
	walProblem string
	walCause   WALCause
	budget     *budget
	pending    []v1alpha1.PendingGrowth
	requeueAt  time.Time
}

func newPlanner(snapshot Snapshot) *planner {
	p := &planner{
		snapshot:     snapshot,
		spec:         snapshot.Policy,
		now:          snapshot.Now,
		maxAge:       snapshot.Policy.ObservationMaxAge.Duration,
		observations: map[string]*Observation{},
		classes:      map[string]*StorageClass{},
	}
	if p.maxAge <= 0 {
		p.maxAge = v1alpha1.DefaultObservationMaxAge
	}
	for index := range snapshot.Observations {
		observation := &snapshot.Observations[index]
		// Two observations of one instance (an old pod's not yet collected):
		// the newer one speaks for it.
		if known := p.observations[observation.Instance]; known != nil && !newerObservation(observation, known) {
			continue
		}
		p.observations[observation.Instance] = observation
	}
	for instance := range p.observations {
		p.observationOrder = append(p.observationOrder, instance)
	}
	slices.Sort(p.observationOrder)
	for index := range snapshot.StorageClasses {
		class := &snapshot.StorageClasses[index]
		if p.classes[class.Name] == nil {
			p.classes[class.Name] = class
		}
	}
	p.primaryInstance = snapshot.Primary
	if p.primaryInstance == "" {
		for _, instance := range p.observationOrder {
			if p.observations[instance].Status.Role == v1alpha1.InstancePrimary {
				p.primaryInstance = instance
				break
			}
		}
	}
	p.windows = evaluateWindows(p.spec.MaintenanceWindows, p.now)
	p.walCause, p.walProblem = p.evaluateWALHealth()
	p.budget = newBudget(p.spec.Budget, snapshot.Budget, p.now)
	return p
}

func newerObservation(a, b *Observation) bool {
	if a.Status.ObservedAt == nil {
		return false
	}
	return b.Status.ObservedAt == nil || a.Status.ObservedAt.After(b.Status.ObservedAt.Time)
}

// noteRequeue keeps the earliest future time at which the plan can change.
func (p *planner) noteRequeue(at time.Time) {
	if at.IsZero() || !at.After(p.now) {
		return
	}
	if p.requeueAt.IsZero() || at.Before(p.requeueAt) {
		p.requeueAt = at
	}
}

// group is the unit of growth and of budget: all PVCs of one role under
// Uniform sizing, one PVC under PerInstance.
type group struct {
	role       v1alpha1.VolumeRole
	tablespace string
	instance   string // PerInstance only
	volumes    []*volume
	uniform    bool

	// largestRequestBytes is the role's current effective size.
	largestRequestBytes int64
	// proposal: the growth the group's drivers ask for.
	drivers     []*volume
	kind        v1alpha1.GrowthKind
	targetBytes int64
	grown       bool
}

func (p *planner) groupVolumes() []*group {
	uniform := p.spec.Sizing != v1alpha1.SizingPerInstance
	var groups []*group
	for _, v := range p.volumes {
		last := len(groups) - 1
		if uniform && last >= 0 && groups[last].role == v.pvc.Role && groups[last].tablespace == v.pvc.Tablespace {
			groups[last].volumes = append(groups[last].volumes, v)
		} else {
			g := &group{role: v.pvc.Role, tablespace: v.pvc.Tablespace, uniform: uniform, volumes: []*volume{v}}
			if !uniform {
				g.instance = v.pvc.Instance
			}
			groups = append(groups, g)
		}
		g := groups[len(groups)-1]
		g.largestRequestBytes = max(g.largestRequestBytes, v.requestBytes)
	}
	return groups
}

// proposeGrowths finds, per group, the PVCs that want growth and pass their
// own gates (the drivers), and the growth they ask for together.
func (p *planner) proposeGrowths(groups []*group) {
	for _, g := range groups {
		for _, v := range g.volumes {
			if !v.wants() {
				continue
			}
			kind := v.trigger.want.kind()
			h := p.volumeHold(v, kind)
			if h != nil && v.trigger.imminent != "" && p.volumeHold(v, v1alpha1.GrowthEmergency) == nil {
				// The cooldown holds planned growth only (criticalImminent).
				v.trigger.promote()
				kind, h = v1alpha1.GrowthEmergency, nil
			}
			if h != nil {
				v.held = h
				p.noteRequeue(h.until)
				continue
			}
			g.drivers = append(g.drivers, v)
			g.targetBytes = max(g.targetBytes, v.targetBytes)
			if kind == v1alpha1.GrowthEmergency {
				g.kind = v1alpha1.GrowthEmergency
			}
		}
		if len(g.drivers) > 0 && g.kind == "" {
			g.kind = v1alpha1.GrowthPlanned
		}
	}
}

// volumeHold checks the gates of one PVC that wants to grow, in order:
// rule, storage class, observation, unbound or in flight, limit, cooldown.
func (p *planner) volumeHold(v *volume, kind v1alpha1.GrowthKind) *hold {
	for _, h := range []*hold{v.ruleHold, v.classHold, v.observationHold, v.unboundHold, v.inFlightHold} {
		if h != nil {
			return h
		}
	}
	if v.targetBytes <= v.requestBytes {
		return &hold{gate: GateLimit, reason: reasonAtLimit(v)}
	}
	return cooldownHold(v, kind, p.now)
}

// followerHold checks the gates of a PVC grown only to keep its role
// uniform: its size is a request, not a measurement, so it needs no trigger
// and no fresh observation; and the policy cooldown is for growths that a
// measurement asked for.
func (p *planner) followerHold(v *volume) *hold {
	for _, h := range []*hold{v.ruleHold, v.classHold, v.unboundHold, v.inFlightHold} {
		if h != nil {
			return h
		}
	}
	return cooldownHold(v, v1alpha1.GrowthEmergency, p.now)
}

// decideGrowths applies the role gates (WAL safety, window, budget) to each
// proposal, emergencies first, and turns the survivors into decisions.
func (p *planner) decideGrowths(groups []*group) {
	proposals := make([]*group, 0, len(groups))
	for _, g := range groups {
		// Drivers whose targets do not pass the role's current size are
		// below it and are raised by catch-up, which is no new growth.
		if len(g.drivers) > 0 && g.targetBytes > g.largestRequestBytes {
			proposals = append(proposals, g)
		}
	}
	slices.SortStableFunc(proposals, func(a, b *group) int {
		return cmp.Compare(kindRank(a.kind), kindRank(b.kind))
	})
	for _, g := range proposals {
		h := p.groupHold(g)
		if h != nil && p.promoteImminent(g) {
			h = nil
		}
		if h != nil {
			for _, driver := range g.drivers {
				driver.held = h
			}
			p.noteRequeue(h.until)
			if h.gate == GateWindow {
				p.queue(g, h)
			}
			continue
		}
		p.grow(g)
	}
}

// promoteImminent lets a planned growth that a role gate holds go as an
// emergency when a driver's critical threshold is imminent and the gates
// let an emergency through (criticalImminent).
func (p *planner) promoteImminent(g *group) bool {
	if g.kind != v1alpha1.GrowthPlanned || !slices.ContainsFunc(g.drivers, func(v *volume) bool { return v.trigger.imminent != "" }) {
		return false
	}
	g.kind = v1alpha1.GrowthEmergency
	if p.groupHold(g) != nil {
		g.kind = v1alpha1.GrowthPlanned
		return false
	}
	for _, driver := range g.drivers {
		driver.trigger.promote()
	}
	return true
}

func kindRank(kind v1alpha1.GrowthKind) int {
	if kind == v1alpha1.GrowthEmergency {
		return 0
	}
	return 1
}

// groupHold checks the role gates of a proposed growth, in order: WAL
// safety, maintenance window, budget.
func (p *planner) groupHold(g *group) *hold {
	if g.walBearing() {
		if h := walSafetyHold(p.walProblem, g.kind, p.spec.WALSafety.BlockEmergencyGrowth); h != nil {
			return h
		}
	}
	if g.kind == v1alpha1.GrowthPlanned {
		if h := windowHold(p.windows, g.targetBytes, p.now); h != nil {
			return h
		}
	}
	if p.continuesRecordedGrowth(g) {
		return nil
	}
	return budgetHold(p.budget, g.kind, p.now)
}

func (g *group) walBearing() bool {
	for _, v := range g.volumes {
		if v.walBearing {
			return true
		}
	}
	return false
}

// continuesRecordedGrowth: a growth of the group to the same size already
// recorded in the window is that growth continuing, not a new action. Under
// PerInstance the action is keyed by instance too (g.instance is empty under
// Uniform, as is the Instance of a Uniform action).
func (p *planner) continuesRecordedGrowth(g *group) bool {
	return p.budget.recorded(g.role, g.tablespace, g.instance, g.targetBytes)
}

// grow decides the growth of a group: every PVC below the target whose own
// gates allow it.
func (p *planner) grow(g *group) {
	trigger := driverSummary(g.drivers)
	for _, v := range g.volumes {
		if v.requestBytes >= g.targetBytes || v.decision != nil {
			continue
		}
		isDriver := slices.Contains(g.drivers, v)
		if !isDriver {
			if h := p.followerHold(v); h != nil {
				v.held = h
				p.noteRequeue(h.until)
				continue
			}
		}
		v.decision = &Decision{
			PVC:        v.pvc.Name,
			Instance:   v.pvc.Instance,
			Role:       v.pvc.Role,
			Tablespace: v.pvc.Tablespace,
			From:       quantityOf(v.requestBytes),
			To:         quantityOf(g.targetBytes),
			Kind:       g.kind,
			Trigger:    trigger,
		}
		if !isDriver {
			v.followsReason = reasonFollows(g.role, g.tablespace, trigger)
		}
	}
	g.grown = true
	if !p.continuesRecordedGrowth(g) {
		p.budget.charge(g.kind, g.role, g.tablespace, g.instance, g.targetBytes)
	}
}

// driverSummary names what fired on which PVC, the most urgent first.
func driverSummary(drivers []*volume) string {
	lead := drivers[0]
	for _, driver := range drivers[1:] {
		if driver.trigger.want > lead.trigger.want {
			lead = driver
		}
	}
	return reasonDriver(lead.pvc.Name, lead.trigger.fired, len(drivers))
}

// queue records a planned growth held by the window in status.pending,
// keeping the queuedAt of the same growth queued earlier.
func (p *planner) queue(g *group, h *hold) {
	queuedAt := p.now
	for _, earlier := range p.snapshot.Pending {
		if earlier.Role == g.role && earlier.Tablespace == g.tablespace && earlier.Instance == g.instance {
			queuedAt = earlier.QueuedAt.Time
			break
		}
	}
	pending := v1alpha1.PendingGrowth{
		Role:       g.role,
		Tablespace: g.tablespace,
		Instance:   g.instance,
		To:         quantityOf(g.targetBytes),
		Reason:     driverSummary(g.drivers),
	}
	pending.QueuedAt.Time = queuedAt
	if !p.windows.nextOpen.IsZero() {
		pending.NotBefore = &metav1.Time{Time: p.windows.nextOpen}
	}
	p.pending = append(p.pending, pending)
}

// catchUp raises, under Uniform sizing, every PVC below its role's current
// effective size to it: a new replica the PVC webhook missed, or the rest
// of a growth whose first patches landed earlier. No action, no trigger,
// no window: a failover must not land on a smaller disk.
func (p *planner) catchUp(groups []*group) {
	for _, g := range groups {
		if !g.uniform || g.grown {
			continue
		}
		for _, v := range g.volumes {
			if v.decision != nil || v.rule == nil {
				continue
			}
			target := min(g.largestRequestBytes, v.limitBytes)
			if p.keptBelowRefusedSize(v, target) {
				continue
			}
			if v.requestBytes >= target {
				continue
			}
			if h := p.followerHold(v); h != nil {
				if v.held == nil {
					v.held = h
				}
				p.noteRequeue(h.until)
				continue
			}
			kind := v1alpha1.GrowthPlanned
			if v.trigger.want == wantEmergency {
				kind = v1alpha1.GrowthEmergency
			}
			v.decision = &Decision{
				PVC:        v.pvc.Name,
				Instance:   v.pvc.Instance,
				Role:       v.pvc.Role,
				Tablespace: v.pvc.Tablespace,
				From:       quantityOf(v.requestBytes),
				To:         quantityOf(target),
				Kind:       kind,
				Trigger:    reasonCatchUp(g.role, g.tablespace, target),
				CatchUp:    true,
			}
			v.held = nil
		}
	}
}
