package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The pure half of `sandbox bench`: what the pollers saw, turned into one
// timing per growth and percentiles per link of the chain. No client, no
// clock.

// observationSample is one observation of the benchmarked volume as the
// probe wrote it: when the probe sampled, and how full the volume was then.
type observationSample struct {
	observedAt  time.Time
	usedPercent float64
}

// claimSample is the PVC's request and capacity (bytes) as first seen at a
// time.
type claimSample struct {
	at                time.Time
	request, capacity int64
}

// filesystemSample is the filesystem's size (bytes) as df in the postgres
// container printed it at a time.
type filesystemSample struct {
	at        time.Time
	sizeBytes int64
}

// growthTiming is one growth's chain: the probe's sample that first put the
// volume over the trigger, the sample the growth was decided on (the newest
// before the patch: the crossing one for a planned growth, a later one for
// an emergency that waited for the critical threshold), the PVC patch,
// status.capacity, and the filesystem PostgreSQL writes to.
type growthTiming struct {
	from, to                                           int64
	crossed, decided, patched, provisioned, filesystem time.Time
	// anticipated: decided before any sample was over the trigger (the
	// latest rate said it was seconds away); crossed is then the sample
	// it was decided on.
	anticipated bool
}

// The links of the chain, in the order links returns them.
var benchLinks = []string{
	"trigger crossed → sample decided on",
	"sample decided on → PVC patched",
	"PVC patched → capacity grown",
	"capacity grown → filesystem grown (df)",
	"sample decided on → filesystem grown",
	"trigger crossed → filesystem grown",
}

func (g growthTiming) links() []time.Duration {
	return []time.Duration{
		g.decided.Sub(g.crossed), g.patched.Sub(g.decided), g.provisioned.Sub(g.patched),
		g.filesystem.Sub(g.provisioned), g.filesystem.Sub(g.decided), g.filesystem.Sub(g.crossed),
	}
}

func (g growthTiming) complete() bool { return !g.filesystem.IsZero() && !g.crossed.IsZero() }

// growthTimings pairs the samples into growths, in order. A growth is a
// change of the PVC's request upwards; it crossed the trigger at the
// first probe sample over trigger taken after the previous growth's
// filesystem grew (or from the start) and was decided on the newest
// sample before the patch; it was provisioned at the first
// sample whose capacity reached the request, and mounted at the first df
// after the patch that shows a filesystem bigger than before it. A growth
// decided before any sample was over the trigger is timed from the newest
// sample before the patch, as both crossing and decision. A growth the
// samples do not show to its end is returned incomplete.
func growthTimings(observations []observationSample, claims []claimSample, filesystems []filesystemSample, trigger float64) []growthTiming {
	var out []growthTiming
	var since time.Time
	for i := 1; i < len(claims); i++ {
		if claims[i].request <= claims[i-1].request {
			continue
		}
		g := growthTiming{from: claims[i-1].request, to: claims[i].request, patched: claims[i].at}
		var newest time.Time
		for _, o := range observations {
			if !o.observedAt.After(since) || o.observedAt.After(g.patched) {
				continue
			}
			if g.crossed.IsZero() && o.usedPercent >= trigger {
				g.crossed = o.observedAt
			}
			if !g.crossed.IsZero() {
				g.decided = o.observedAt
			}
			newest = o.observedAt
		}
		if g.crossed.IsZero() && !newest.IsZero() {
			g.crossed, g.decided, g.anticipated = newest, newest, true
		}
		for _, c := range claims[i:] {
			if c.capacity >= g.to {
				g.provisioned = c.at
				break
			}
		}
		before := int64(0)
		for _, f := range filesystems {
			if !f.at.After(g.patched) {
				before = f.sizeBytes
				continue
			}
			if before > 0 && f.sizeBytes > before && !g.provisioned.IsZero() {
				g.filesystem = maxTime(f.at, g.provisioned)
				break
			}
		}
		if !g.filesystem.IsZero() {
			since = g.filesystem
		} else {
			since = g.patched
		}
		out = append(out, g)
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// percentile is the nearest-rank percentile p (0–100) of durations.
func percentile(durations []time.Duration, p float64) time.Duration {
	if len(durations) == 0 {
		return 0
	}
	sorted := slices.Clone(durations)
	slices.Sort(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// completeGrowths are the growths seen from the trigger to a larger
// filesystem: only those are timed.
func completeGrowths(growths []growthTiming) []growthTiming {
	var complete []growthTiming
	for _, g := range growths {
		if g.complete() {
			complete = append(complete, g)
		}
	}
	return complete
}

// benchTable is the markdown table of one run: per link of the chain, the
// number of growths, p50, p90, p99 and the worst.
func benchTable(growths []growthTiming) string {
	complete := completeGrowths(growths)
	var b strings.Builder
	fmt.Fprintf(&b, "| link | growths | p50 | p90 | p99 | worst |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for i, name := range benchLinks {
		var d []time.Duration
		for _, g := range complete {
			d = append(d, g.links()[i])
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", name, len(d),
			seconds(percentile(d, 50)), seconds(percentile(d, 90)), seconds(percentile(d, 99)), seconds(percentile(d, 100)))
	}
	anticipated := 0
	for _, g := range complete {
		if g.anticipated {
			anticipated++
		}
	}
	if anticipated > 0 {
		fmt.Fprintf(&b, "\n%d of them were decided before a sample was over the trigger (the latest rate had it within seconds): "+
			"for those, \"trigger crossed\" is the sample they were decided on.\n", anticipated)
	}
	if n := len(growths) - len(complete); n > 0 {
		fmt.Fprintf(&b, "\n%d growth(s) not seen to the end are left out.\n", n)
	}
	return b.String()
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func formatBytes(b int64) string { return fmt.Sprintf("%.2fGi", float64(b)/(1<<30)) }
