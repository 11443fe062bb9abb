package plan

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// The invariants of DESIGN §8, each checked on propertyChecks generated
// snapshots.

func pvcByName(snapshot Snapshot, name string) PVC {
	for _, pvc := range snapshot.PVCs {
		if pvc.Name == name {
			return pvc
		}
	}
	return PVC{}
}

// limitOf reads the limit of a PVC's rule straight from the spec.
func limitOf(spec v1alpha1.StorageAutoscalePolicySpec, pvc PVC) int64 {
	var rule *v1alpha1.VolumePolicy
	switch pvc.Role {
	case v1alpha1.RoleData:
		rule = &spec.Volumes.Data
	case v1alpha1.RoleWAL:
		rule = spec.Volumes.WAL
	case v1alpha1.RoleTablespace:
		if byName, found := spec.Volumes.Tablespaces.ByName[pvc.Tablespace]; found {
			rule = &byName
		} else {
			rule = spec.Volumes.Tablespaces.Default
		}
	}
	if rule == nil || rule.Limit == nil {
		return 0
	}
	return rule.Limit.Value()
}

// inFlight is the Kubernetes expansion protocol's own test, written out
// again here rather than borrowed from the planner.
func inFlight(pvc PVC) bool {
	capacity := pvc.Capacity.Value()
	return (capacity > 0 && pvc.Request.Value() > capacity) || pvc.AllocatedResourceStatus != "" || len(pvc.ResizeConditions) > 0
}

func allDecisions(result Result) []Decision {
	return append(slices.Clone(result.Decisions), result.WouldGrow...)
}

func TestPropertyNeverShrinks(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snapshot := drawSnapshot(t)
		for _, decision := range allDecisions(Plan(snapshot)) {
			request := bytesOf(pvcByName(snapshot, decision.PVC).Request)
			if decision.From.Value() != request {
				t.Fatalf("%s: decision from %d, but the request is %d", decision.PVC, decision.From.Value(), request)
			}
			if decision.To.Value() <= request {
				t.Fatalf("%s: decision to %d does not grow the request %d", decision.PVC, decision.To.Value(), request)
			}
		}
	})
}

func TestPropertyNeverExceedsLimit(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snapshot := drawSnapshot(t)
		result := Plan(snapshot)
		for _, decision := range allDecisions(result) {
			limit := limitOf(snapshot.Policy, pvcByName(snapshot, decision.PVC))
			if decision.To.Value() > limit {
				t.Fatalf("%s grown to %d, above its limit %d", decision.PVC, decision.To.Value(), limit)
			}
		}
	})
}

func TestPropertyNeverGrowsInFlight(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snapshot := drawSnapshot(t)
		for _, decision := range allDecisions(Plan(snapshot)) {
			if pvc := pvcByName(snapshot, decision.PVC); inFlight(pvc) {
				t.Fatalf("%s grown while a growth is in flight (request %s, capacity %s, status %q)",
					decision.PVC, pvc.Request.String(), pvc.Capacity.String(), pvc.AllocatedResourceStatus)
			}
		}
	})
}

func TestPropertyDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snapshot := drawSnapshot(t)
		first := encodeResult(t, Plan(snapshot))
		again := encodeResult(t, Plan(snapshot))
		if first != again {
			t.Fatalf("same snapshot, different plans:\n%s\n%s", first, again)
		}
		// The order PVCs and observations are listed in is no input.
		shuffled := snapshot
		shuffled.PVCs = rapid.Permutation(snapshot.PVCs).Draw(t, "pvcOrder")
		shuffled.Observations = rapid.Permutation(snapshot.Observations).Draw(t, "observationOrder")
		if reordered := encodeResult(t, Plan(shuffled)); reordered != first {
			t.Fatalf("reordered snapshot, different plan:\n%s\n%s", first, reordered)
		}
	})
}

func encodeResult(t *rapid.T, result Result) string {
	encoded, err := json.Marshal(result)
	if err != nil {
		t.Fatalf("encode result: %v", err)
	}
	return string(encoded)
}

// windowOpenings are the instants the generated daily windows open on the
// local days around now, found by walking the clock (firstInstantReading),
// independently of cron and of the planner's arithmetic.
func windowOpenings(t *rapid.T, window v1alpha1.MaintenanceWindow, now time.Time) []time.Time {
	var minute, hour int
	if _, err := fmt.Sscanf(window.Schedule, "%d %d * * *", &minute, &hour); err != nil {
		t.Fatalf("generated schedule %q: %v", window.Schedule, err)
	}
	zone, err := time.LoadLocation(window.TimeZone)
	if err != nil {
		t.Fatalf("generated zone %q: %v", window.TimeZone, err)
	}
	local := now.In(zone)
	var openings []time.Time
	// A window lasts at most 24h, and a local day can be shorter than
	// that: the one opened two days ago can still be open.
	for dayOffset := -2; dayOffset <= 2; dayOffset++ {
		target := time.Date(local.Year(), local.Month(), local.Day()+dayOffset, hour, minute, 0, 0, time.UTC)
		openings = append(openings, firstInstantReading(t, target, zone))
	}
	return openings
}

// firstInstantReading is the first instant whose wall clock in zone reads
// target (given in UTC fields) or later: a start that happens twice opens
// at its first occurrence, one that does not happen when the clocks have
// jumped past it. It walks minute by minute from a point three hours
// before time.Date's answer, which is at most one clock change off.
func firstInstantReading(t *rapid.T, target time.Time, zone *time.Location) time.Time {
	reads := func(instant time.Time) bool {
		local := instant.In(zone)
		wall := time.Date(local.Year(), local.Month(), local.Day(), local.Hour(), local.Minute(), local.Second(), 0, time.UTC)
		return !wall.Before(target)
	}
	instant := time.Date(target.Year(), target.Month(), target.Day(), target.Hour(), target.Minute(), 0, 0, zone).Add(-3 * time.Hour)
	if reads(instant) {
		t.Fatalf("walk for %s in %s starts too late, at %s", target, zone, instant)
	}
	for !reads(instant) {
		instant = instant.Add(time.Minute)
	}
	return instant
}

// windowOpen says whether a generated window is open at now, and when one
// next opens.
func windowOpen(t *rapid.T, windows []v1alpha1.MaintenanceWindow, now time.Time) (open bool, next time.Time) {
	if len(windows) == 0 {
		return true, time.Time{}
	}
	for _, window := range windows {
		for _, opens := range windowOpenings(t, window, now) {
			if !opens.After(now) && now.Before(opens.Add(window.Duration.Duration)) {
				open = true
			}
			if opens.After(now) && (next.IsZero() || opens.Before(next)) {
				next = opens
			}
		}
	}
	return open, next
}

func TestPropertyPlannedGrowthOnlyInsideAWindow(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snapshot := drawSnapshot(t)
		open, next := windowOpen(t, snapshot.Policy.MaintenanceWindows, snapshot.Now)
		result := Plan(snapshot)
		for _, decision := range allDecisions(result) {
			if decision.Kind == v1alpha1.GrowthPlanned && !decision.CatchUp && !open {
				t.Fatalf("%s: planned growth at %s, outside every window", decision.PVC, snapshot.Now)
			}
		}
		for _, pending := range result.Pending {
			if open {
				t.Fatalf("growth of %s queued while a window is open", pending.Role)
			}
			if pending.NotBefore == nil || !pending.NotBefore.Time.Equal(next) {
				t.Fatalf("queued until %v, but the next window opens at %s", pending.NotBefore, next)
			}
		}
	})
}

// TestPropertyWindowsOpenWhenTheClockSaysSo checks the window arithmetic
// alone on every draw, planned growth or not.
func TestPropertyWindowsOpenWhenTheClockSaysSo(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		spec := drawPolicy(t)
		now := drawNow(t, spec.MaintenanceWindows)
		open, next := windowOpen(t, spec.MaintenanceWindows, now)
		got := evaluateWindows(spec.MaintenanceWindows, now)
		if got.open != open {
			t.Fatalf("at %s: open = %v, want %v", now, got.open, open)
		}
		if !open && !got.nextOpen.Equal(next) {
			t.Fatalf("at %s: next opening %s, want %s", now, got.nextOpen, next)
		}
	})
}

// criticalWithOpenGates says, from the snapshot alone, whether every gate
// is open for emergency growth of the PVC: the planner must grow it now.
func criticalWithOpenGates(snapshot Snapshot, pvc PVC) bool {
	spec := snapshot.Policy
	limit := limitOf(spec, pvc)
	if spec.Mode != v1alpha1.ModeEnforce || limit == 0 || pvc.Request.Value() >= limit || inFlight(pvc) {
		return false
	}
	rule := ruleOf(spec, pvc)
	if !rule.GrowthEnabled() {
		return false
	}
	var class *StorageClass
	for index := range snapshot.StorageClasses {
		if snapshot.StorageClasses[index].Name == pvc.StorageClass {
			class = &snapshot.StorageClasses[index]
		}
	}
	if class == nil || !class.AllowVolumeExpansion {
		return false
	}
	// aws-ebs: at most 4 modifications of a volume in a rolling 24h,
	// counted from lastGrowth and status.history.
	lastGrowth := pvc.LastGrowth
	modified := map[int64]bool{}
	if !pvc.LastGrowth.IsZero() {
		modified[pvc.LastGrowth.Unix()] = true
	}
	for _, record := range snapshot.History {
		if slices.Contains(record.PVCs, pvc.Name) {
			modified[record.Time.Unix()] = true
			if record.Time.After(lastGrowth) {
				lastGrowth = record.Time.Time
			}
		}
	}
	inLast24h := 0
	for at := range modified {
		if snapshot.Now.Sub(time.Unix(at, 0)) < 24*time.Hour {
			inLast24h++
		}
	}
	if resolveProvider(spec.Provider, class).name == v1alpha1.ProviderAWSEBS && inLast24h >= 4 {
		return false
	}
	if spec.WALSafety.BlockEmergencyGrowth {
		return false
	}
	var observation *Observation
	for index := range snapshot.Observations {
		if snapshot.Observations[index].Instance == pvc.Instance {
			observation = &snapshot.Observations[index]
		}
	}
	if observation == nil {
		return false
	}
	age := snapshot.Now.Sub(observation.Status.ObservedAt.Time)
	if age > spec.ObservationMaxAge.Duration || age < -spec.ObservationMaxAge.Duration || observation.Status.ObservedAt.Time.Before(lastGrowth) {
		return false
	}
	for _, observed := range observation.Status.Volumes {
		if observed.PVC != pvc.Name || observed.CapacityBytes <= 0 {
			continue
		}
		if capacity := pvc.Capacity.Value(); capacity > 0 && float64(observed.CapacityBytes) < 0.85*float64(capacity) {
			return false
		}
		usedPercent := float64(observed.CapacityBytes-observed.AvailableBytes) * 100 / float64(observed.CapacityBytes)
		inodesCritical := false
		if observed.InodesTotal > 0 {
			inodesUsedPercent := float64(observed.InodesTotal-observed.InodesFree) * 100 / float64(observed.InodesTotal)
			inodesCritical = observed.InodesFree <= 0 || inodesUsedPercent >= float64(rule.Critical.InodesUsedPercent)
		}
		return observed.AvailableBytes <= 0 || usedPercent >= float64(rule.Critical.UsedPercent) ||
			(rule.Critical.MinFree.Value() > 0 && observed.AvailableBytes < rule.Critical.MinFree.Value()) || inodesCritical
	}
	return false
}

func ruleOf(spec v1alpha1.StorageAutoscalePolicySpec, pvc PVC) v1alpha1.VolumePolicy {
	switch pvc.Role {
	case v1alpha1.RoleWAL:
		return *spec.Volumes.WAL
	case v1alpha1.RoleTablespace:
		if byName, found := spec.Volumes.Tablespaces.ByName[pvc.Tablespace]; found {
			return byName
		}
		return *spec.Volumes.Tablespaces.Default
	}
	return spec.Volumes.Data
}

func TestPropertyCriticalWithOpenGatesGrowsNow(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snapshot := drawSnapshot(t)
		// Enough budget for every role to grow at once.
		snapshot.Budget = nil
		snapshot.Policy.Budget.MaxActionsPerDay = int32(max(len(snapshot.PVCs), int(snapshot.Policy.Budget.MaxActionsPerDay)))
		result := Plan(snapshot)
		for _, pvc := range snapshot.PVCs {
			if !criticalWithOpenGates(snapshot, pvc) {
				continue
			}
			decision := decisionFor(result, pvc.Name)
			if decision == nil {
				row := VolumeRow{}
				for _, candidate := range result.Volumes {
					if candidate.PVC == pvc.Name {
						row = candidate
					}
				}
				t.Fatalf("%s is critical with every gate open but was not grown: %s %s: %s", pvc.Name, row.State, row.Gate, row.Reason)
			}
			if decision.Kind != v1alpha1.GrowthEmergency {
				t.Fatalf("%s is critical but grown as %s", pvc.Name, decision.Kind)
			}
		}
	})
}

// TestPropertyBudgetHoldsOverSimulatedDays applies every plan as the
// controller would (patch, growth completes, new observation, actions
// recorded) over simulated days, and counts the actions in every 24h.
func TestPropertyBudgetHoldsOverSimulatedDays(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snapshot := drawSnapshot(t)
		snapshot.Policy.Mode = v1alpha1.ModeEnforce
		snapshot.Budget = nil
		var log []v1alpha1.BudgetAction
		steps := rapid.IntRange(4, 16).Draw(t, "steps")
		for range steps {
			result := Plan(snapshot)
			log = append(log, result.NewActions...)
			checkGrowthsAreCharged(t, result)
			snapshot.Budget = result.Budget.Actions
			applyDecisions(&snapshot, result.Decisions)
			snapshot.Now = snapshot.Now.Add(time.Duration(rapid.Int64Range(60, 8*3600).Draw(t, "stepSeconds")) * time.Second)
			refreshObservations(t, &snapshot)
		}
		spec := snapshot.Policy.Budget
		for _, action := range log {
			total, planned := 0, 0
			for _, other := range log {
				if other.Time.After(action.Time.Add(-budgetWindow)) && !other.Time.After(action.Time.Time) {
					total++
					if other.Kind == v1alpha1.GrowthPlanned {
						planned++
					}
				}
			}
			if total > int(spec.MaxActionsPerDay) {
				t.Fatalf("%d actions in the 24h up to %s, budget %d", total, action.Time, spec.MaxActionsPerDay)
			}
			if planned > int(spec.MaxActionsPerDay-*spec.EmergencyReserve) {
				t.Fatalf("%d planned actions in the 24h up to %s, budget %d - reserve %d", planned, action.Time, spec.MaxActionsPerDay, *spec.EmergencyReserve)
			}
		}
	})
}

// checkGrowthsAreCharged: every growth that is not a catch-up is in the
// budget window, so no growth escapes the count.
func checkGrowthsAreCharged(t *rapid.T, result Result) {
	for _, decision := range result.Decisions {
		if decision.CatchUp {
			continue
		}
		charged := false
		for _, action := range result.Budget.Actions {
			charged = charged || (action.Role == decision.Role && action.Tablespace == decision.Tablespace && action.To.Cmp(decision.To) == 0)
		}
		if !charged {
			t.Fatalf("%s grown to %s as %s with no budget action", decision.PVC, decision.To.String(), decision.Kind)
		}
	}
}

// applyDecisions patches and completes each growth at once.
func applyDecisions(snapshot *Snapshot, decisions []Decision) {
	for _, decision := range decisions {
		for index := range snapshot.PVCs {
			pvc := &snapshot.PVCs[index]
			if pvc.Name == decision.PVC {
				pvc.Request, pvc.Capacity = decision.To, decision.To
				pvc.AllocatedResourceStatus, pvc.ResizeConditions = "", nil
				pvc.LastGrowth = snapshot.Now
			}
		}
	}
}

// refreshObservations measures every volume again: its filesystem at the
// PVC's size, and a new fill level.
func refreshObservations(t *rapid.T, snapshot *Snapshot) {
	for index := range snapshot.Observations {
		observation := &snapshot.Observations[index]
		at := snapshot.Now
		observation.Status.ObservedAt.Time = at
		for volumeIndex := range observation.Status.Volumes {
			observed := &observation.Status.Volumes[volumeIndex]
			pvc := pvcByName(*snapshot, observed.PVC)
			observed.CapacityBytes = int64(float64(max(pvc.Capacity.Value(), pvc.Request.Value())) * 0.95)
			usedShare := rapid.Float64Range(0.3, 1).Draw(t, "usedShare")
			observed.AvailableBytes = int64(float64(observed.CapacityBytes) * (1 - usedShare))
			observed.UsedBytes = observed.CapacityBytes - observed.AvailableBytes
		}
	}
}
