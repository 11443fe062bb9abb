package report

import "time"

// Backoff bounds for failed writes: the first retry comes at the next probe
// or so, the longest wait stays under the default heartbeat.
const (
	initialBackoff = time.Second
	maxBackoff     = 60 * time.Second
)

// backoff is an exponential delay driven by the caller's clock.
type backoff struct {
	delay time.Duration
	until time.Time
}

// failed schedules the next attempt after a failure at now.
func (b *backoff) failed(now time.Time) {
	switch {
	case b.delay == 0:
		b.delay = initialBackoff
	case b.delay < maxBackoff:
		b.delay = min(2*b.delay, maxBackoff)
	}
	b.until = now.Add(b.delay)
}

func (b *backoff) succeeded()                 { *b = backoff{} }
func (b *backoff) waiting(now time.Time) bool { return now.Before(b.until) }
func (b *backoff) retryAt() time.Time         { return b.until }
