package plan

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// Every string a user reads (status, Events, kubectl pgstorage explain) is
// built here, so that the wording stays consistent. Each says what is
// happening, since when, and what would change it.

// Triggers.

func reasonVolumeFull() string { return "volume full (0 bytes available)" }

func reasonInodesFull(inodesTotal int64) string {
	return fmt.Sprintf("no free inodes (all %d used): PostgreSQL cannot create a file", inodesTotal)
}

func reasonThreshold(name string, value float64, threshold int32) string {
	return fmt.Sprintf("%s %s >= %d", name, formatPercent(value), threshold)
}

func reasonFreeBelow(name string, freeBytes, minFreeBytes int64) string {
	return fmt.Sprintf("free %s < %s %s", formatBytes(freeBytes), name, formatBytes(minFreeBytes))
}

func reasonForecast(trigger v1alpha1.Trigger, untilTrigger time.Duration, rateBytesPerSecond int64, horizon time.Duration) string {
	return fmt.Sprintf("forecast: trigger (usedPercent %d) reached in %s at %s/h, within horizon %s",
		trigger.UsedPercent, formatDuration(untilTrigger), formatBytes(saturatingMultiply(rateBytesPerSecond, 3600)), formatDuration(horizon))
}

func reasonAnticipated(trigger v1alpha1.Trigger, untilTrigger time.Duration, rateBytesPerSecond, filledBytes int64) string {
	threshold := fmt.Sprintf("usedPercent %d", trigger.UsedPercent)
	if minFree := bytesOf(trigger.MinFree); minFree > 0 {
		threshold += ", minFree " + formatBytes(minFree)
	}
	return fmt.Sprintf("trigger (%s) reached in %s at %s/s (%s written so far), sooner than a growth lands (%s)",
		threshold, formatDuration(untilTrigger.Round(100*time.Millisecond)), formatBytes(rateBytesPerSecond), formatBytes(filledBytes), formatDuration(triggerLead))
}

func reasonCriticalImminent(critical v1alpha1.CriticalThreshold, untilCritical time.Duration, rateBytesPerSecond int64) string {
	threshold := fmt.Sprintf("usedPercent %d", critical.UsedPercent)
	if minFree := bytesOf(critical.MinFree); minFree > 0 {
		threshold += ", minFree " + formatBytes(minFree)
	}
	return fmt.Sprintf("critical (%s) reached in %s at %s/s, sooner than a growth lands (%s)",
		threshold, formatDuration(untilCritical.Round(100*time.Millisecond)), formatBytes(rateBytesPerSecond), formatDuration(growthReactionAllowance))
}

func reasonDriver(pvc, fired string, drivers int) string {
	if drivers > 1 {
		return fmt.Sprintf("%s on %s (and %d more)", fired, pvc, drivers-1)
	}
	return fmt.Sprintf("%s on %s", fired, pvc)
}

func reasonFollows(role v1alpha1.VolumeRole, tablespace, trigger string) string {
	return fmt.Sprintf("grows with %s to keep its instances the same size (uniform sizing): %s", roleName(role, tablespace), trigger)
}

func reasonCatchUp(role v1alpha1.VolumeRole, tablespace string, targetBytes int64) string {
	return fmt.Sprintf("catch-up to the effective size %s of %s (uniform sizing; not a budget action)", formatBytes(targetBytes), roleName(role, tablespace))
}

// Rules.

func reasonUnknownRole(role v1alpha1.VolumeRole) string {
	return fmt.Sprintf("unknown PVC role %q (cnpg.io/pvcRole): not grown", role)
}

func reasonNoRule(path string) string {
	return fmt.Sprintf("no rule for this volume: set %s (with a limit) to let it grow", path)
}

func reasonGrowthDisabled(path string) string {
	return fmt.Sprintf("growth disabled (%s.enabled: false)", path)
}

func reasonNoLimit(path string) string {
	return fmt.Sprintf("no limit: set %s.limit, the size this volume may never exceed, to let it grow", path)
}

// Storage class.

func reasonNoStorageClass() string {
	return "PVC names no StorageClass: it cannot be expanded"
}

func reasonStorageClassMissing(name string) string {
	return fmt.Sprintf("StorageClass %s not found: cannot tell whether it allows expansion", name)
}

func reasonStorageClassFixed(name string) string {
	return fmt.Sprintf("StorageClass %s does not allow volume expansion (allowVolumeExpansion: false): grow by hand or move to an expandable class", name)
}

// Observation.

func reasonNoObservation(instance string) string {
	return fmt.Sprintf("no observation from instance %s: is the pgstorage probe sidecar running in its pod? (kubectl cnpg restart injects it)", instance)
}

func reasonObservationNotMeasured(instance string) string {
	return fmt.Sprintf("observation of %s has no measurement yet", instance)
}

// reasonObservationStale rounds the age up to the second: a stale age never
// reads as equal to the limit it exceeds ("1m31s old (observationMaxAge 1m30s)").
func reasonObservationStale(instance string, age, maxAge time.Duration) string {
	return fmt.Sprintf("observation of %s is %s old (observationMaxAge %s): no growth is decided on stale figures; check the probe sidecar of that pod",
		instance, formatDuration(ceilSecond(age)), formatDuration(maxAge))
}

func ceilSecond(d time.Duration) time.Duration {
	if whole := d.Truncate(time.Second); whole < d {
		return whole + time.Second
	}
	return d
}

func reasonObservationFuture(instance string, observedAt time.Time) string {
	return fmt.Sprintf("observation of %s is dated %s, in the future: check the node clocks", instance, observedAt.UTC().Format(time.RFC3339))
}

func reasonVolumeNotObserved(pvc, instance string) string {
	return fmt.Sprintf("observation of %s does not report PVC %s: is the volume mounted into the probe sidecar?", instance, pvc)
}

func reasonNoCapacityObserved(pvc, instance string) string {
	return fmt.Sprintf("observation of %s reports no filesystem size for PVC %s", instance, pvc)
}

func reasonAwaitingMeasurement(lastGrowth, now time.Time) string {
	return fmt.Sprintf("grown at %s: waiting for the probe sidecar to measure the new size", formatClock(lastGrowth, now, time.UTC))
}

func reasonFilesystemBehind(filesystemBytes, pvcBytes int64) string {
	return fmt.Sprintf("filesystem is %s but the PVC has %s: waiting for kubelet to grow the filesystem",
		formatBytes(filesystemBytes), formatBytes(pvcBytes))
}

// In flight.

func reasonUnbound() string {
	return "the PVC is not bound yet (Kubernetes refuses to change a claim before it binds); it is raised when it binds"
}

func reasonResizeInProgress(requestBytes, capacityBytes int64, status, message string) string {
	reason := fmt.Sprintf("resize to %s in progress", formatBytes(requestBytes))
	if capacityBytes > 0 {
		reason += fmt.Sprintf(" (capacity %s", formatBytes(capacityBytes))
		if status != "" {
			reason += ", " + status
		}
		reason += ")"
	} else if status != "" {
		reason += " (" + status + ")"
	}
	if message != "" {
		reason += ": " + message
	}
	return reason
}

func reasonResizeFailed(requestBytes int64, status, message string) string {
	reason := fmt.Sprintf("resize to %s failed (%s)", formatBytes(requestBytes), status)
	if message != "" {
		reason += ": " + message
	}
	return reason + "; no further growth until the storage driver's problem is fixed"
}

func reasonResizeStuck(requestBytes, capacityBytes int64, reading Expansion, timeout time.Duration) string {
	status := reading.Status
	if status == "" {
		status = "waiting for the resizer"
	}
	reason := fmt.Sprintf("resize to %s stuck in %s for %s (resize timeout %s); capacity is %s",
		formatBytes(requestBytes), status, formatDuration(reading.StuckFor), formatDuration(timeout), formatBytes(capacityBytes))
	if reading.Message != "" {
		reason += ": " + reading.Message
	}
	return reason
}

// Retry of an infeasible growth (onInfeasible: Retry).

func reasonRefusal(reading Expansion) string {
	message := reading.Message
	if message == "" {
		message = "the storage driver gave no message"
	}
	return fmt.Sprintf("%s: %s", reading.Status, message)
}

func reasonRetrying(refusedBytes, targetBytes, capacityBytes int64, reading Expansion, retryPath string) string {
	return fmt.Sprintf("resize to %s refused (%s); %s is Retry: lowering the request to %s (capacity %s plus half the refused step), once",
		formatBytes(refusedBytes), reasonRefusal(reading), retryPath, formatBytes(targetBytes), formatBytes(capacityBytes))
}

func reasonRetryRefusedToo(reason string, refused resource.Quantity, retryPath string) string {
	return fmt.Sprintf("%s; this was the one smaller retry (%s is Retry) after %s was refused: lower the request to the capacity or fix the storage backend",
		reason, retryPath, refused.String())
}

func reasonRetryNotOurs(reason, retryPath string) string {
	return fmt.Sprintf("%s; %s is Retry, but this request was not set by the add-on, so it is left as it is", reason, retryPath)
}

func reasonRetryNoSmallerSize(reason string, capacityBytes int64, retryPath string) string {
	return fmt.Sprintf("%s; %s is Retry, but no whole GiB lies between the capacity %s and the refused request", reason, retryPath, formatBytes(capacityBytes))
}

// Limit and cooldown.

func reasonAtLimit(v *volume) string {
	return fmt.Sprintf("at limit %s: %s, but %s.limit is %s; raise the limit or free space",
		formatBytes(v.limitBytes), v.trigger.fired, v.rulePath, formatBytes(v.limitBytes))
}

func reasonCooldown(v *volume, wait time.Duration, ends, now time.Time) string {
	return fmt.Sprintf("cooldown: last grown %s, next growth possible after %s (%s.cooldown %s)",
		formatClock(v.lastGrowth, now, time.UTC), formatClock(ends, now, time.UTC), v.rulePath, formatDuration(wait))
}

func reasonProviderLimit(v *volume, kind v1alpha1.GrowthKind, recent []time.Time, possibleAt, now time.Time) string {
	reason := fmt.Sprintf("%s allows %d modifications of a volume in a rolling 24h; %s was modified at %s; next growth possible at %s",
		v.provider.name, v.provider.modificationsPerDay, v.pvc.Name, formatClocks(recent, now), formatClock(possibleAt, now, time.UTC))
	if kind == v1alpha1.GrowthEmergency {
		reason += "; the volume is critical: free space by hand if it cannot wait"
	}
	return reason
}

// formatClocks lists times in UTC, naming the zone once: "yesterday 11:00,
// 04:00 and 09:00 UTC".
func formatClocks(times []time.Time, now time.Time) string {
	parts := make([]string, len(times))
	for index, at := range times {
		parts[index] = strings.TrimSuffix(formatClock(at, now, time.UTC), " UTC")
	}
	if len(parts) > 1 {
		parts = append(parts[:len(parts)-2], parts[len(parts)-2]+" and "+parts[len(parts)-1])
	}
	return strings.Join(parts, ", ") + " UTC"
}

// WAL safety.

func reasonWALHeld(problem string, kind v1alpha1.GrowthKind) string {
	if kind == v1alpha1.GrowthEmergency {
		return problem + ": emergency WAL growth held too (walSafety.blockEmergencyGrowth); PostgreSQL stops when its WAL volume is full"
	}
	return problem + ": planned WAL growth held"
}

func reasonArchiveFailing(archiving *v1alpha1.ArchivingObservation, now time.Time) string {
	reason := "archiving failing"
	if archiving.LastArchivedAt != nil {
		reason += " since " + formatClock(archiving.LastArchivedAt.Time, now, time.UTC)
	} else {
		reason += " (nothing archived yet)"
	}
	if archiving.LastFailedAt != nil {
		reason += fmt.Sprintf(" (last failure %s", formatClock(archiving.LastFailedAt.Time, now, time.UTC))
		if archiving.LastFailedWAL != "" {
			reason += " on " + archiving.LastFailedWAL
		}
		reason += ")"
	}
	return reason + "; fix archiving: a bigger disk only delays the outage"
}

func reasonSlotRetention(slot *v1alpha1.SlotObservation, maxRetentionBytes int64) string {
	return fmt.Sprintf("inactive replication slot %q retains %s of WAL, more than walSafety.maxInactiveSlotRetention %s; drop the slot or reconnect its consumer",
		slot.Name, formatBytes(slot.RetainedBytes), formatBytes(maxRetentionBytes))
}

func reasonWALUnknownUnreachable(instance, why string) string {
	reason := fmt.Sprintf("WAL health unknown: PostgreSQL on primary %s is not reachable", instance)
	if why != "" {
		reason += " (" + why + ")"
	}
	return reason
}

func reasonWALUnknownNoObservation(instance string) string {
	return fmt.Sprintf("WAL health unknown: no observation from primary %s", instance)
}

func reasonWALUnknownStale(instance, stale string) string {
	return fmt.Sprintf("WAL health unknown for primary %s: %s", instance, stale)
}

func reasonWALUnknownNotYetPrimary(instance string, role v1alpha1.InstanceRole) string {
	if role == "" {
		role = v1alpha1.InstanceUnknown
	}
	return fmt.Sprintf("WAL health unknown: %s is the cluster's primary, but its last observation says %s; waiting for it to report as primary", instance, role)
}

func reasonWALUnknownNoPrimary() string {
	return "WAL health unknown: no fresh observation names a primary"
}

// Window and budget.

func reasonQueuedForWindow(windows windowState, targetBytes int64, now time.Time) string {
	if windows.nextOpen.IsZero() {
		reason := fmt.Sprintf("planned growth to %s held: no maintenance window will open", formatBytes(targetBytes))
		if len(windows.problems) > 0 {
			reason += " (" + strings.Join(windows.problems, "; ") + ")"
		}
		return reason
	}
	window := windows.nextWindow
	reason := fmt.Sprintf("planned growth to %s queued until %s (maintenance window %q, %s)",
		formatBytes(targetBytes), formatClock(windows.nextOpen, now, windows.nextZone), window.Schedule, formatDuration(window.Duration.Duration))
	if len(windows.problems) > 0 {
		reason += "; ignored: " + strings.Join(windows.problems, "; ")
	}
	return reason
}

func reasonBudgetUsed(b *budget, kind v1alpha1.GrowthKind, freesAt, now time.Time) string {
	var reason string
	switch {
	case b.maxActions == 0:
		return "budget.maxActionsPerDay is 0: no growth allowed"
	case kind == v1alpha1.GrowthPlanned && b.maxActions-b.reserve <= 0:
		return fmt.Sprintf("planned growth has no budget: budget.emergencyReserve %d equals maxActionsPerDay %d", b.reserve, b.maxActions)
	case kind == v1alpha1.GrowthPlanned && b.used(v1alpha1.GrowthPlanned) >= b.maxActions-b.reserve:
		reason = fmt.Sprintf("daily budget for planned growth used: %d of %d in the last 24h (maxActionsPerDay %d minus emergencyReserve %d)",
			b.used(v1alpha1.GrowthPlanned), b.maxActions-b.reserve, b.maxActions, b.reserve)
	default:
		reason = fmt.Sprintf("daily growth budget used: %d of maxActionsPerDay %d in the last 24h", len(b.actions), b.maxActions)
	}
	if !freesAt.IsZero() {
		reason += "; next growth possible after " + formatClock(freesAt, now, time.UTC)
	}
	return reason
}

// Explanations (kubectl pgstorage explain): what each gate says when it
// lets a growth through, and the few holds only an explanation reports.

func reasonTriggerNotEvaluated(why string) string {
	return "not evaluated: " + why
}

func reasonNothingFired(figures usage, rule *v1alpha1.VolumePolicy) string {
	reason := fmt.Sprintf("no threshold reached: %s%% used, %s free", formatPercent(figures.usedPercent), formatBytes(figures.availableBytes))
	if rule.Trigger.UsedPercent > 0 {
		reason += fmt.Sprintf("; grows at %d%%", rule.Trigger.UsedPercent)
	}
	if rule.Critical.UsedPercent > 0 {
		reason += fmt.Sprintf(", emergency at %d%%", rule.Critical.UsedPercent)
	}
	return reason
}

func reasonRulePasses(path string, rule *v1alpha1.VolumePolicy) string {
	return fmt.Sprintf("%s grows this volume up to its limit %s", path, formatBytes(bytesOf(*rule.Limit)))
}

func reasonDryRunHolds() string {
	return "spec.mode is DryRun: the plan is reported, nothing is patched"
}

func reasonEnforce() string { return "spec.mode is Enforce: growths are patched" }

func reasonClassExpands(class string, provider v1alpha1.Provider) string {
	return fmt.Sprintf("StorageClass %s allows volume expansion (provider %s)", class, provider)
}

func reasonObservationNotNeeded() string {
	return "not needed: a PVC grown with its role is sized by its role's request, not by its own measurement"
}

func reasonObservationFresh(instance string, age, maxAge time.Duration) string {
	return fmt.Sprintf("observation of %s is %s old (observationMaxAge %s)", instance, formatDuration(max(age, 0).Truncate(time.Second)), formatDuration(maxAge))
}

func reasonNothingInFlight(requestBytes, capacityBytes int64) string {
	return fmt.Sprintf("no resize in flight (request %s, capacity %s)", formatBytes(requestBytes), formatBytes(capacityBytes))
}

func reasonTargetWithinLimit(targetBytes, limitBytes int64) string {
	return fmt.Sprintf("target %s is within the limit %s", formatBytes(targetBytes), formatBytes(limitBytes))
}

func reasonAtLimitIdle(limitBytes int64, rulePath string) string {
	return fmt.Sprintf("at limit %s (%s.limit): no growth is possible until the limit is raised", formatBytes(limitBytes), rulePath)
}

func reasonRoomBelowLimit(requestBytes, limitBytes int64) string {
	return fmt.Sprintf("request %s, limit %s: room for %s more", formatBytes(requestBytes), formatBytes(limitBytes), formatBytes(limitBytes-requestBytes))
}

func reasonCooldownOver(v *volume, kind v1alpha1.GrowthKind, follower bool, now time.Time) string {
	var reason string
	if v.lastGrowth.IsZero() {
		reason = "never grown by the add-on"
	} else {
		reason = "last grown " + formatClock(v.lastGrowth, now, time.UTC)
	}
	switch {
	case follower:
		reason += "; a PVC grown with its role waits only for the provider's limit"
	case kind == v1alpha1.GrowthEmergency:
		reason += "; emergency growth ignores the policy cooldown"
	case v.rule != nil && !v.lastGrowth.IsZero():
		if untilCritical, overtaken := criticalBeforeCooldownEnds(v, now); overtaken && now.Before(v.lastGrowth.Add(effectiveCooldown(v.rule))) {
			reason += fmt.Sprintf("; at %s/s the critical threshold is %s away, before %s.cooldown %s ends: growing now, not as an emergency",
				formatBytes(v.figures.coverRate()), formatDuration(untilCritical), v.rulePath, formatDuration(effectiveCooldown(v.rule)))
		} else {
			reason += fmt.Sprintf("; %s.cooldown %s is over", v.rulePath, formatDuration(effectiveCooldown(v.rule)))
		}
	}
	if limit := v.provider.modificationsPerDay; limit > 0 {
		reason += fmt.Sprintf("; %s allows %d modifications of a volume in a rolling 24h", v.provider.name, limit)
	}
	return reason
}

func reasonCatchUpNotHeld(what string) string {
	return fmt.Sprintf("a catch-up to the role's current size is not held by %s", what)
}

func reasonNotWALBearing(role v1alpha1.VolumeRole, tablespace string) string {
	return fmt.Sprintf("%s holds no WAL", roleName(role, tablespace))
}

func reasonWALNotChecked() string {
	return "not checked: walSafety.requireArchiveHealthy is false and walSafety.maxInactiveSlotRetention is 0"
}

func reasonWALEmergencyNotHeld(problem string) string {
	return problem + "; emergency growth goes ahead (walSafety.blockEmergencyGrowth is false)"
}

func reasonWALHealthy(primary string) string {
	return fmt.Sprintf("WAL health on primary %s passes the policy's checks", primary)
}

func reasonEmergencyIgnoresWindows() string {
	return "emergency growth ignores maintenance windows"
}

// explainWindow says whether planned growth may run now.
func explainWindow(windows windowState, configured int, now time.Time) string {
	switch {
	case configured == 0:
		return "no maintenance windows: always open"
	case windows.open:
		return "a maintenance window is open"
	}
	return reasonWindowClosed(windows, now)
}

func reasonWindowClosed(windows windowState, now time.Time) string {
	if windows.nextOpen.IsZero() {
		reason := "no maintenance window is open, and none will open"
		if len(windows.problems) > 0 {
			reason += " (" + strings.Join(windows.problems, "; ") + ")"
		}
		return reason
	}
	return fmt.Sprintf("no maintenance window is open: planned growth waits until %s (maintenance window %q, %s)",
		formatClock(windows.nextOpen, now, windows.nextZone), windows.nextWindow.Schedule, formatDuration(windows.nextWindow.Duration.Duration))
}

func reasonBudgetCharged(b *budget, kind v1alpha1.GrowthKind) string {
	return fmt.Sprintf("charged as one %s action; %d of maxActionsPerDay %d used in the last 24h", kind, len(b.actions), b.maxActions)
}

func reasonBudgetContinues(role v1alpha1.VolumeRole, tablespace string, targetBytes int64) string {
	return fmt.Sprintf("continues the growth of %s to %s already charged in the last 24h", roleName(role, tablespace), formatBytes(targetBytes))
}

func reasonBudgetLeft(b *budget, kind v1alpha1.GrowthKind) string {
	return fmt.Sprintf("%s growth may use %d more of maxActionsPerDay %d in the last 24h", kind, b.left(kind), b.maxActions)
}

// Rows.

func reasonDryRun(wouldBe string) string {
	return "dry run (spec.mode: DryRun), nothing is patched; would be: " + wouldBe
}

func reasonGrowing(v *volume) string {
	d := v.decision
	reason := fmt.Sprintf("growing from %s to %s now (%s", formatBytes(bytesOf(d.From)), formatBytes(bytesOf(d.To)), d.Kind)
	switch {
	case d.CatchUp:
		return reason + "): " + d.Trigger
	case v.followsReason != "":
		return reason + "): " + v.followsReason
	}
	return reason + "): " + d.Trigger
}

func reasonHeld(v *volume, holdReason string) string {
	return fmt.Sprintf("%s growth wanted (%s) but %s", v.trigger.want.kind(), v.trigger.fired, holdReason)
}

func reasonIdle(v *volume) string {
	if v.rule == nil {
		return ""
	}
	reason := fmt.Sprintf("%s%% used", formatPercent(v.figures.usedPercent))
	if v.rule.Trigger.UsedPercent > 0 {
		reason += fmt.Sprintf(", grows at %d%%", v.rule.Trigger.UsedPercent)
	}
	if v.requestBytes >= v.limitBytes {
		reason += fmt.Sprintf("; at limit %s", formatBytes(v.limitBytes))
	}
	if v.classHold != nil {
		reason += "; " + v.classHold.reason
	}
	return reason
}

// Formatting.

func roleName(role v1alpha1.VolumeRole, tablespace string) string {
	if role == v1alpha1.RoleTablespace {
		return "tablespace " + tablespace
	}
	return "role " + string(role)
}

// formatPercent rounds down to one decimal, so that a shown value never
// reaches a threshold the real one has not.
func formatPercent(percent float64) string {
	if math.IsNaN(percent) || math.IsInf(percent, 0) {
		return "?"
	}
	return strconv.FormatFloat(math.Floor(percent*10)/10, 'f', -1, 64)
}

// formatBytes writes a size in binary units with at most one decimal.
func formatBytes(size int64) string {
	units := []struct {
		bytes int64
		name  string
	}{{tebibyte, "Ti"}, {gibibyte, "Gi"}, {mebibyte, "Mi"}, {kibibyte, "Ki"}}
	for _, unit := range units {
		// Rounded to one decimal first, so 1023.99Mi reads 1Gi.
		value := math.Round(float64(size)/float64(unit.bytes)*10) / 10
		if math.Abs(value) >= 1 {
			return strconv.FormatFloat(value, 'f', -1, 64) + unit.name
		}
	}
	return strconv.FormatInt(size, 10) + "B"
}

// formatDuration drops the units that say nothing: 6h, 5m, 3h12m, 42s.
func formatDuration(d time.Duration) string {
	if d >= time.Hour {
		d = d.Round(time.Minute)
	} else if d >= time.Minute {
		d = d.Round(time.Second)
	}
	text := d.String()
	if strings.HasSuffix(text, "m0s") {
		text = strings.TrimSuffix(text, "0s")
	}
	if strings.HasSuffix(text, "h0m") {
		text = strings.TrimSuffix(text, "0m")
	}
	return text
}

// formatClock: "02:00 UTC" on now's day, "tomorrow 02:00 UTC" or
// "yesterday 23:10 UTC" next to it, else with the date. A bare clock for
// another day (a budget that frees in 23 hours) reads as earlier today.
func formatClock(t, now time.Time, zone *time.Location) string {
	if zone == nil {
		zone = time.UTC
	}
	local, today := t.In(zone), now.In(zone)
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }
	switch day(local).Sub(day(today)) {
	case 0:
		return local.Format("15:04 MST")
	case 24 * time.Hour:
		return "tomorrow " + local.Format("15:04 MST")
	case -24 * time.Hour:
		return "yesterday " + local.Format("15:04 MST")
	}
	return local.Format("2006-01-02 15:04 MST")
}

func saturatingMultiply(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	product := a * b
	if product/b != a {
		return math.MaxInt64
	}
	return product
}

// FormatBytes writes a size as every reason does: binary units, at most
// one decimal.
func FormatBytes(size int64) string { return formatBytes(size) }

// FormatPercent writes a percentage as every reason does: rounded down to
// one decimal, so that a shown value never reaches a threshold the real
// one has not.
func FormatPercent(percent float64) string { return formatPercent(percent) }

// FormatDuration writes a duration as every reason does: 6h, 5m, 3h12m, 42s.
func FormatDuration(d time.Duration) string { return formatDuration(d) }
