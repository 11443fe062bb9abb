package decide

import "time"

// FillRateWindow is how far back the fill rate looks: long enough to smooth
// out checkpoints and WAL recycling, short enough to see a runaway within
// minutes.
const FillRateWindow = 10 * time.Minute

// recentSpans are the spans, ending at the newest sample, the recent rate
// is read over; it is the fastest sustained rate of any of them. A fill
// that started 30 s ago after calm minutes is sustained over the last 20 or
// 30 s, not over the last minute, whose older half was calm.
var recentSpans = [...]time.Duration{20 * time.Second, 30 * time.Second, 40 * time.Second, time.Minute}

// minFillRateSpan is the shortest run of samples a rate is computed from;
// below it one checkpoint would read as a trend.
const minFillRateSpan = 20 * time.Second

// maxSamples bounds memory: FillRateWindow at the 2 s fast interval is 300.
// The ring keeps that spacing however often the disks are measured
// (FillRate.Spacing); only the latest rate reads every measurement.
const maxSamples = 512

// Sample is one measurement of a volume's used bytes and its size.
type Sample struct {
	At            time.Time
	UsedBytes     int64
	CapacityBytes int64
}

// FillRate estimates how fast one volume fills from the sidecar's own
// samples: the least-squares slope of used bytes over time within
// FillRateWindow, a new baseline at every change of the filesystem's size,
// and only when the fill is sustained over both halves of the window. It holds a fixed-size
// ring and allocates nothing per sample.
//
// The published rate drives forecast growth and the size of every growth,
// so what it must not count: a growth of the filesystem (ext4's reserved
// blocks grow with it and read as bytes written; a rate spanning the growth
// would ask for the next growth, and that one for the next), and a single
// burst (one large write, then nothing, is no rate to project over hours).
// Deciding "sustained" here, where every sample is, keeps it in one place:
// the planner sees one observation at a time and would need state of its
// own to compare two windows.
type FillRate struct {
	// Spacing is the least time between two samples of the ring the
	// sustained rates are read from: the sidecar measures the disks more
	// often than that (the latest rate reads every measurement), but a
	// 10-minute window at a sub-second spacing would not fit the ring, and
	// the regressions would cost more than they tell. Zero keeps every sample.
	Spacing time.Duration

	ring  [maxSamples]Sample
	first int // index of the oldest sample
	count int

	// latest holds the newest latestSamples samples, whatever their spacing.
	latest      [latestSamples]Sample
	latestCount int
	// streakFrom is the used bytes when the current run of measurements,
	// each above the one before at one size, began; streaking says there
	// is such a run.
	streakFrom int64
	streaking  bool
}

// Add records a sample and forgets those that left the window; it says
// whether the ring took it (the sustained rates may have changed). A sample
// older than the newest (a clock stepped back) restarts the series: mixing
// the two would invent a trend.
func (f *FillRate) Add(s Sample) (ringChanged bool) {
	if f.latestCount > 0 && s.At.Before(f.latest[f.latestCount-1].At) {
		f.count, f.latestCount, f.streaking = 0, 0, false
	}
	if f.latestCount > 0 {
		previous := f.latest[f.latestCount-1]
		switch {
		case s.UsedBytes <= previous.UsedBytes || s.CapacityBytes != previous.CapacityBytes:
			f.streaking = false
		case !f.streaking:
			f.streakFrom, f.streaking = previous.UsedBytes, true
		}
	}
	if f.latestCount == latestSamples {
		copy(f.latest[:], f.latest[1:])
		f.latestCount--
	}
	f.latest[f.latestCount] = s
	f.latestCount++
	// A change of size goes in at once: the rates start a new run there.
	// A twentieth of the spacing absorbs timer jitter.
	if f.count > 0 {
		newest := f.at(f.count - 1)
		if s.CapacityBytes == newest.CapacityBytes && s.At.Sub(newest.At) < f.Spacing-f.Spacing/20 {
			return false
		}
	}
	if f.count == maxSamples {
		f.first = (f.first + 1) % maxSamples
		f.count--
	}
	f.ring[(f.first+f.count)%maxSamples] = s
	f.count++
	for f.count > 1 && s.At.Sub(f.at(0).At) > FillRateWindow {
		f.first = (f.first + 1) % maxSamples
		f.count--
	}
	return true
}

func (f *FillRate) at(i int) Sample { return f.ring[(f.first+i)%maxSamples] }

// BytesPerSecond is the fill rate; ok is false until the samples span
// minFillRateSpan at constant sizes. Each run of samples at one filesystem
// size starts a new baseline: the rate is the slope common to the runs,
// each with its own intercept, so what a growth changes at once (ext4's
// reserved blocks and inode tables grow with the filesystem) is never read
// as bytes written, while the writes before and after it still count. A
// plain restart at each growth would lose the rate exactly when it matters:
// at 100 MiB/s a growth by step.min (1 GiB) lasts 10 s, less than
// minFillRateSpan. A volume that empties or stays flat over the span reads
// as its (negative or zero) slope. A filling one reads as the lower of the
// slopes of the two halves of the span (they share the sample at the
// middle), and as 0 when either half is not filling: only a fill sustained
// over both, and still going on at today's size, is a rate.
func (f *FillRate) BytesPerSecond() (rate float64, ok bool) {
	return f.rateFrom(0)
}

// RecentBytesPerSecond is the rate a growth is sized for: the fastest of
// the rates of the last 20, 30, 40 and 60 seconds, each by BytesPerSecond's
// rules (sustained over both halves of its span, still filling at today's
// size), so a fill counts within 20-40 s of starting and a single burst
// still reads as no rate.
func (f *FillRate) RecentBytesPerSecond() (rate float64, ok bool) {
	if f.count == 0 {
		return 0, false
	}
	newest := f.at(f.count - 1).At
	from := f.count - 1
	for _, span := range recentSpans {
		for from > 0 && newest.Sub(f.at(from-1).At) <= span {
			from--
		}
		if r, spanOK := f.rateFrom(from); spanOK && (!ok || r > rate) {
			rate, ok = r, true
		}
	}
	return rate, ok
}

// latestMaxSpan bounds the samples LatestBytesPerSecond reads: three
// samples further apart than this (a pod that paused) are no latest rate.
const latestMaxSpan = 10 * time.Second

// latestSamples: the latest rate reads the last two intervals.
const latestSamples = 3

// LatestBytesPerSecond is the rate of the last two intervals between
// measurements, whatever the ring's spacing (200 ms at the sidecar's
// 100 ms disk interval): the lower of their two rates, 0 unless
// both were filling at today's size. It is what a fill that started a
// moment ago looks like before any sustained rate exists, and it only ever
// anticipates a threshold, never sizes a growth (issue #21: a 1 GiB volume
// filling at 100 MiB/s goes from 75 % to full in 2.6 s). One write between
// two measurements, then nothing, fills one interval only and reads as 0.
func (f *FillRate) LatestBytesPerSecond() (rate float64, ok bool) {
	if f.latestCount < latestSamples {
		return 0, false
	}
	oldest, middle, newest := f.latest[0], f.latest[1], f.latest[2]
	if oldest.CapacityBytes != newest.CapacityBytes || middle.CapacityBytes != newest.CapacityBytes ||
		!oldest.At.Before(middle.At) || !middle.At.Before(newest.At) || newest.At.Sub(oldest.At) > latestMaxSpan {
		return 0, false
	}
	older := float64(middle.UsedBytes-oldest.UsedBytes) / middle.At.Sub(oldest.At).Seconds()
	newer := float64(newest.UsedBytes-middle.UsedBytes) / newest.At.Sub(middle.At).Seconds()
	if older <= 0 || newer <= 0 {
		return 0, true
	}
	return min(older, newer), true
}

// LatestFillBytes is what the volume gained over the current run of
// measurements each above the one before at one size: 0 when the last
// interval did not fill. It bounds how far the latest rate may be
// projected: a single 30 MiB write caught between measurements 100 ms
// apart reads as 300 MiB/s, but it is 30 MiB.
func (f *FillRate) LatestFillBytes() int64 {
	if !f.streaking || f.latestCount == 0 {
		return 0
	}
	return f.latest[f.latestCount-1].UsedBytes - f.streakFrom
}

// rateFrom is the sustained rate of the samples from index from on.
func (f *FillRate) rateFrom(from int) (rate float64, ok bool) {
	if f.count-from < 3 || f.runsSpan(from, f.count) < minFillRateSpan {
		return 0, false
	}
	first, last := f.at(from), f.at(f.count-1)
	span := last.At.Sub(first.At)
	overall, ok := f.slope(from, f.count)
	if !ok {
		return 0, false
	}
	if overall <= 0 {
		return overall, true
	}
	middle := from + 1
	for middle < f.count-2 && f.at(middle).At.Sub(first.At) < span/2 {
		middle++
	}
	older, olderOK := f.slope(from, middle+1)
	newer, newerOK := f.slope(middle, f.count)
	if !olderOK || !newerOK || older <= 0 || newer <= 0 {
		return 0, true
	}
	// A burst that straddles the middle fills both halves; after a growth
	// its samples would ask for the next one. The run at today's size must
	// be filling too, judged on two samples at least.
	lastRun := f.count - 1
	for lastRun > from && f.at(lastRun-1).CapacityBytes == last.CapacityBytes {
		lastRun--
	}
	if current, currentOK := f.slope(lastRun, f.count); !currentOK || current <= 0 {
		return 0, true
	}
	return min(older, newer), true
}

// runEnd is the index after the run of samples at the size of sample
// from, within [from, to).
func (f *FillRate) runEnd(from, to int) int {
	end := from + 1
	for end < to && f.at(end).CapacityBytes == f.at(from).CapacityBytes {
		end++
	}
	return end
}

// runsSpan is the time the runs of samples in [from, to) cover, the gaps at
// each change of size left out.
func (f *FillRate) runsSpan(from, to int) time.Duration {
	var span time.Duration
	for start := from; start < to; {
		end := f.runEnd(start, to)
		span += f.at(end - 1).At.Sub(f.at(start).At)
		start = end
	}
	return span
}

// slope is the least-squares slope of used bytes over time of the samples
// in [from, to), common to their runs at one size, each run with its own
// intercept; ok is false when no run spans any time.
func (f *FillRate) slope(from, to int) (float64, bool) {
	var covariance, variance float64
	for start := from; start < to; {
		end := f.runEnd(start, to)
		origin := f.at(start)
		// Offsets from the run's first sample keep the sums small enough
		// for float64 to stay exact at byte resolution.
		var sumT, sumU float64
		for i := start; i < end; i++ {
			s := f.at(i)
			sumT += s.At.Sub(origin.At).Seconds()
			sumU += float64(s.UsedBytes - origin.UsedBytes)
		}
		n := float64(end - start)
		meanT, meanU := sumT/n, sumU/n
		for i := start; i < end; i++ {
			s := f.at(i)
			dt := s.At.Sub(origin.At).Seconds() - meanT
			covariance += dt * (float64(s.UsedBytes-origin.UsedBytes) - meanU)
			variance += dt * dt
		}
		start = end
	}
	if variance == 0 {
		return 0, false
	}
	return covariance / variance, true
}

// TimeToFull is how long until availableBytes are gone at rate; ok is false
// when the volume is not filling.
func TimeToFull(availableBytes int64, bytesPerSecond float64) (time.Duration, bool) {
	if bytesPerSecond <= 0 {
		return 0, false
	}
	seconds := float64(availableBytes) / bytesPerSecond
	if seconds > float64(100*365*24*time.Hour/time.Second) {
		return 0, false
	}
	return time.Duration(seconds * float64(time.Second)), true
}
