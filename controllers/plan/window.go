package plan

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// cronParser accepts the five standard fields and the @daily-style
// descriptors, which is what the CRD's schedule pattern admits.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// windowState says whether planned growth may run now and, if not, when it
// next may.
type windowState struct {
	open bool
	// nextOpen is the earliest next opening of a valid window; zero when
	// none will open (no valid window, or a schedule that never fires).
	nextOpen time.Time
	// nextWindow describes the window that opens at nextOpen.
	nextWindow v1alpha1.MaintenanceWindow
	nextZone   *time.Location
	// problems name the windows that can never open (bad schedule or zone).
	problems []string
}

// evaluateWindows: no windows means always open. A window opened at o is
// open for [o, o+duration): duration is elapsed time, whatever the clocks
// do meanwhile. When a window opens is decided by openingAt.
func evaluateWindows(windows []v1alpha1.MaintenanceWindow, now time.Time) windowState {
	state := windowState{}
	if len(windows) == 0 {
		state.open = true
		return state
	}
	for index, window := range windows {
		schedule, zone, err := parseWindow(window)
		if err != nil {
			state.problems = append(state.problems, fmt.Sprintf("window %d (%q): %v", index+1, window.Schedule, err))
			continue
		}
		duration := window.Duration.Duration
		if duration <= 0 {
			state.problems = append(state.problems, fmt.Sprintf("window %d (%q): duration %v is not positive", index+1, window.Schedule, duration))
			continue
		}
		duration = min(duration, v1alpha1.MaxMaintenanceWindowDuration)
		// The first opening after now-duration, if it is not after now, is
		// an opening whose window still covers now.
		if opened := nextOpening(schedule, zone, now.Add(-duration)); !opened.IsZero() && !opened.After(now) {
			state.open = true
			return state
		}
		next := nextOpening(schedule, zone, now)
		if !next.IsZero() && (state.nextOpen.IsZero() || next.Before(state.nextOpen)) {
			state.nextOpen = next
			state.nextWindow = window
			state.nextZone = zone
		}
	}
	return state
}

// nextOpening is the first opening of the window after the instant after,
// zero when the schedule never fires again.
//
// robfig/cron steps absolute hours in the zone, so on the day the clocks
// spring forward a start inside the gap never fires, and on the day they
// fall back a start in the repeated hour fires twice. So the schedule is
// matched against wall clocks instead (written as UTC, where no clock
// jumps), and each matching wall clock is turned into an instant by
// openingAt.
func nextOpening(schedule cron.Schedule, zone *time.Location, after time.Time) time.Time {
	// A wall clock whose opening is after `after` can be earlier than
	// after's own wall clock by as much as the clocks go back meanwhile.
	wall := wallClock(after.In(zone)).Add(-clocksGoBack(after.In(zone)))
	for {
		wall = schedule.Next(wall)
		if wall.IsZero() {
			return time.Time{}
		}
		if opening := openingAt(wall, zone); opening.After(after) {
			return opening
		}
	}
}

// openingAt is the instant a window starting at the wall clock wall (its
// fields, read in zone) opens:
//   - a wall clock that happens once: then;
//   - one that happens twice (clocks fall back): the first time, so the
//     window opens once;
//   - one that does not happen (clocks spring forward): the first valid
//     instant after it, which is when the gap ends.
//
// time.Date does not say which of two instants it picks, nor in which
// direction it moves a wall clock in a gap (Europe/Berlin 02:30 becomes
// 03:30 CEST, America/New_York 02:30 becomes 01:30 EST), so neither is
// relied on.
func openingAt(wall time.Time, zone *time.Location) time.Time {
	guess := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), 0, zone)
	start, end := guess.ZoneBounds()
	// Instants inside the periods around the guess: a wall clock near a
	// change of offset has its candidates in one of them.
	probes := []time.Time{guess}
	if !start.IsZero() {
		probes = append(probes, start.Add(-time.Nanosecond))
	}
	if !end.IsZero() {
		probes = append(probes, end)
	}
	var first time.Time
	for _, probe := range probes {
		_, offset := probe.Zone()
		candidate := wall.Add(-time.Duration(offset) * time.Second)
		if _, actual := candidate.In(zone).Zone(); actual == offset && (first.IsZero() || candidate.Before(first)) {
			first = candidate
		}
	}
	if !first.IsZero() {
		return first.In(zone)
	}
	// In a gap: the guess was moved out of it, forward or back; the gap
	// ends at the change of offset on the guess's side of it.
	if wallClock(guess).After(wall) {
		return start.In(zone)
	}
	return end.In(zone)
}

// wallClock carries t's wall clock in t's zone as the same fields in UTC.
func wallClock(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// clocksGoBack is by how much the zone's offset drops below t's in the two
// days after t, zero when it does not. Offsets differ by less than 26h, so
// an opening whose wall clock is before t's yet whose instant is after t
// lies well inside those two days.
func clocksGoBack(t time.Time) time.Duration {
	_, offset := t.Zone()
	lowest := offset
	for probe := t; ; {
		_, end := probe.ZoneBounds()
		if end.IsZero() || end.Sub(t) > 48*time.Hour {
			break
		}
		probe = end
		_, next := probe.Zone()
		lowest = min(lowest, next)
	}
	return time.Duration(offset-lowest) * time.Second
}

// parseWindow parses a window's schedule in its time zone. A zone written
// into the schedule (CRON_TZ=, TZ=) is refused: the window has its own
// timeZone field, and robfig/cron v3.0.1 panics on such a prefix without a
// following field.
func parseWindow(window v1alpha1.MaintenanceWindow) (cron.Schedule, *time.Location, error) {
	zoneName := window.TimeZone
	if zoneName == "" {
		zoneName = v1alpha1.DefaultMaintenanceTimeZone
	}
	zone, err := time.LoadLocation(zoneName)
	if err != nil {
		return nil, nil, fmt.Errorf("time zone %q: %w", zoneName, err)
	}
	schedule, err := ParseSchedule(window.Schedule)
	if err != nil {
		return nil, nil, fmt.Errorf("schedule: %w", err)
	}
	return schedule, zone, nil
}

// ParseSchedule parses a maintenance window's schedule exactly as the
// planner evaluates it: five fields or a descriptor such as @daily. The
// policy webhook validates with it, so that what it admits is what runs.
func ParseSchedule(schedule string) (cron.Schedule, error) {
	spec := strings.TrimSpace(schedule)
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, fmt.Errorf("set the time zone in timeZone, not in the schedule")
	}
	return cronParser.Parse(spec)
}
