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
// open for [o, o+duration).
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
		// The latest opening after now-duration, if it is not after now, is
		// an opening whose window still covers now.
		if opened := schedule.Next(now.Add(-duration).In(zone)); !opened.IsZero() && !opened.After(now) {
			state.open = true
			return state
		}
		next := schedule.Next(now.In(zone))
		if !next.IsZero() && (state.nextOpen.IsZero() || next.Before(state.nextOpen)) {
			state.nextOpen = next
			state.nextWindow = window
			state.nextZone = zone
		}
	}
	return state
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
	spec := strings.TrimSpace(window.Schedule)
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, nil, fmt.Errorf("set the time zone in timeZone, not in the schedule")
	}
	schedule, err := cronParser.Parse(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("schedule: %w", err)
	}
	return schedule, zone, nil
}
