package decide

import "time"

// FillRateWindow is how far back the fill rate looks: long enough to smooth
// out checkpoints and WAL recycling, short enough to see a runaway within
// minutes.
const FillRateWindow = 10 * time.Minute

// minFillRateSpan is the shortest run of samples a rate is computed from;
// below it one checkpoint would read as a trend.
const minFillRateSpan = 20 * time.Second

// maxSamples bounds memory: FillRateWindow at the 2 s fast interval is 300.
const maxSamples = 512

// Sample is one measurement of a volume's used bytes.
type Sample struct {
	At        time.Time
	UsedBytes int64
}

// FillRate estimates how fast one volume fills from the sidecar's own
// samples: the least-squares slope of used bytes over time within
// FillRateWindow. It holds a fixed-size ring and allocates nothing per sample.
type FillRate struct {
	ring  [maxSamples]Sample
	first int // index of the oldest sample
	count int
}

// Add records a sample and forgets those that left the window. A sample
// older than the newest (a clock stepped back) restarts the series: mixing
// the two would invent a trend.
func (f *FillRate) Add(s Sample) {
	if f.count > 0 && s.At.Before(f.at(f.count-1).At) {
		f.count = 0
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
}

func (f *FillRate) at(i int) Sample { return f.ring[(f.first+i)%maxSamples] }

// BytesPerSecond is the fill rate (negative when the volume empties); ok is
// false until the samples span minFillRateSpan.
func (f *FillRate) BytesPerSecond() (rate float64, ok bool) {
	if f.count < 2 {
		return 0, false
	}
	origin := f.at(0)
	if f.at(f.count-1).At.Sub(origin.At) < minFillRateSpan {
		return 0, false
	}
	// Offsets from the first sample keep the sums small enough for float64
	// to stay exact at byte resolution.
	var sumT, sumU float64
	for i := range f.count {
		s := f.at(i)
		sumT += s.At.Sub(origin.At).Seconds()
		sumU += float64(s.UsedBytes - origin.UsedBytes)
	}
	n := float64(f.count)
	meanT, meanU := sumT/n, sumU/n
	var covariance, variance float64
	for i := range f.count {
		s := f.at(i)
		dt := s.At.Sub(origin.At).Seconds() - meanT
		covariance += dt * (float64(s.UsedBytes-origin.UsedBytes) - meanU)
		variance += dt * dt
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
