package policy

import "time"

// Clock is where the reconciler reads the time. Production uses RealClock;
// tests move a clock of their own.
type Clock interface {
	Now() time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns the current time.
func (RealClock) Now() time.Time { return time.Now() }
