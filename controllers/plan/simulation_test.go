package plan

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"pgregory.net/rapid"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/decide"
)

// fillSimulation runs the data volume of a one-instance cluster through
// time as the parts would: the sidecar samples it every probe and publishes
// its decide.FillRate, Plan decides on every observation, and a growth
// lands (PVC capacity and filesystem grown) a reaction delay after it was
// decided. Writes stop at a full filesystem, as ENOSPC stops PostgreSQL.
type fillSimulation struct {
	snapshot      Snapshot
	rate          decide.FillRate
	writtenBytes  float64
	reservedShare float64 // ext4 reserves 5 % of a filesystem for root
	probe         time.Duration
	reaction      time.Duration
	landsAt       time.Time
	landsTo       resource.Quantity
	growths       []simulatedGrowth
	// freeShares is the share of the filesystem free at each probe, before
	// a growth due at that probe lands (so a reaction is rounded up to a
	// probe: the simulation errs towards less free space).
	freeShares []float64
}

type simulatedGrowth struct {
	probe    int
	decision Decision
	// rateBytesPerSecond is the fill rate the planner sized for.
	rateBytesPerSecond int64
}

func newFillSimulation(t *testing.T, sizeGi int64, usedPercent float64, probe, reaction time.Duration, edit func(*v1alpha1.StorageAutoscalePolicySpec)) *fillSimulation {
	t.Helper()
	b := newSnapshot(t).instance("orders-1", v1alpha1.InstancePrimary).data("orders-1", sizeGi, usedPercent)
	if edit != nil {
		b.policy(edit)
	}
	// The sidecar's ring keeps samples 2 s apart however often it measures.
	s := &fillSimulation{snapshot: b.build(), probe: probe, reaction: reaction, rate: decide.FillRate{Spacing: 2 * time.Second}}
	observed := s.observed()
	s.writtenBytes = float64(observed.UsedBytes)
	return s
}

func (s *fillSimulation) observed() *v1alpha1.ObservedVolume {
	return &s.snapshot.Observations[0].Status.Volumes[0]
}

func (s *fillSimulation) filesystemBytes() int64 {
	return int64(float64(s.snapshot.PVCs[0].Capacity.Value()) * testOverhead)
}

// step writes writeBytes over one probe interval, measures, and plans.
func (s *fillSimulation) step(writeBytes float64) {
	s.snapshot.Now = s.snapshot.Now.Add(s.probe)
	capacity := s.filesystemBytes()
	reserved := float64(capacity) * s.reservedShare
	s.writtenBytes = min(s.writtenBytes+writeBytes, float64(capacity)-reserved)
	s.freeShares = append(s.freeShares, 1-(s.writtenBytes+reserved)/float64(capacity))
	if !s.landsAt.IsZero() && !s.snapshot.Now.Before(s.landsAt) {
		s.snapshot.PVCs[0].Capacity = s.landsTo
		s.landsAt = time.Time{}
		capacity = s.filesystemBytes()
		reserved = float64(capacity) * s.reservedShare
	}
	used := int64(s.writtenBytes + reserved)
	s.rate.Add(decide.Sample{At: s.snapshot.Now, UsedBytes: used, CapacityBytes: capacity})
	rate, _ := s.rate.BytesPerSecond()
	recent, _ := s.rate.RecentBytesPerSecond()
	latest, _ := s.rate.LatestBytesPerSecond()
	observed := s.observed()
	observed.CapacityBytes, observed.UsedBytes, observed.AvailableBytes = capacity, used, capacity-used
	observed.FillRateBytesPerSecond, observed.RecentFillRateBytesPerSecond = int64(rate), int64(recent)
	observed.LatestFillRateBytesPerSecond, observed.LatestFillBytes = int64(latest), s.rate.LatestFillBytes()
	observedAt := metav1.NewMicroTime(s.snapshot.Now)
	s.snapshot.Observations[0].Status.ObservedAt = &observedAt

	result := Plan(s.snapshot)
	s.snapshot.Budget = result.Budget.Actions
	for _, decision := range result.Decisions {
		pvc := &s.snapshot.PVCs[0]
		pvc.Request, pvc.LastGrowth = decision.To, s.snapshot.Now
		s.landsAt, s.landsTo = s.snapshot.Now.Add(s.reaction), decision.To
		s.growths = append(s.growths, simulatedGrowth{probe: len(s.freeShares) - 1, decision: decision, rateBytesPerSecond: int64(max(rate, recent))})
	}
}

func (s *fillSimulation) story() string {
	var lines []string
	for _, growth := range s.growths {
		lines = append(lines, fmt.Sprintf("  %s after %s: %s -> %s at %s/s (%s)", growth.decision.Kind, time.Duration(growth.probe+1)*s.probe,
			growth.decision.From.String(), growth.decision.To.String(), formatBytes(growth.rateBytesPerSecond), growth.decision.Trigger))
	}
	return strings.Join(lines, "\n")
}

// TestRateCoverKeepsTenPercentFree: at a constant fill rate from a 1 GiB
// volume under the default policy, once a growth has been sized with the
// rate the sidecar measures (within 10 % of the true one), the volume never
// has less than 10 % free again, whatever the reaction delay up to the
// allowance (less one fast probe, the time to see the trigger crossed).
// Before that growth nothing can promise it: at 100 MiB/s a 1 GiB volume
// goes from the trigger (80 %) to full in 2 s, one fast probe, before the
// sidecar has the 20 s of samples a rate needs. The run stops at 15
// minutes, inside the day's budget (every growth here holds out 5.5 min).
// Not covered, because it does not hold: 50 and 100 MiB/s with a 28 s
// reaction. The volume is full for most of each reaction, so the rate is
// learnt from a stalled fill, and the growths sized with it (planned ones
// too, now that a fill reaching the critical threshold within the cooldown
// grows at the trigger) spend the day's four planned actions within two
// minutes; the fifth growth, 10-14 minutes in, comes as an emergency with
// 9.9 % free. The sandbox measured 1.4-4.4 s of reaction. Nor 100 MiB/s
// with a reaction under 10 s: each growth of the first 30 s is sized by
// the step (1 GiB lasts 10 s, less than the 20 s a sustained rate needs)
// and goes as an emergency as soon as the latest rate shows the critical
// threshold seconds away (criticalImminent), four of them, so the day's six
// actions are spent by 6 minutes and the volume touches 10 % free at 13;
// without that rule the volume was full twice in its first 30 s.
func TestRateCoverKeepsTenPercentFree(t *testing.T) {
	for _, rateMiB := range []int64{1, 10, 20, 50, 100} {
		for _, reaction := range []time.Duration{0, 2 * time.Second, 10 * time.Second, growthReactionAllowance - 2*time.Second} {
			if rateMiB >= 50 && reaction > 10*time.Second || rateMiB == 100 && reaction < 10*time.Second {
				continue
			}
			t.Run(fmt.Sprintf("%d MiB/s, reaction %s", rateMiB, reaction), func(t *testing.T) {
				rate := rateMiB * mebibyte
				s := newFillSimulation(t, 1, 75, 2*time.Second, reaction, func(spec *v1alpha1.StorageAutoscalePolicySpec) {
					spec.Volumes.Data.Limit = quantityPtr(quantityOf(100 * tebibyte))
				})
				for range int(15 * time.Minute / s.probe) {
					s.step(float64(rate) * s.probe.Seconds())
				}
				landed := -1
				for _, growth := range s.growths {
					if float64(growth.rateBytesPerSecond) >= 0.9*float64(rate) {
						landed = growth.probe + max(int((reaction+s.probe-1)/s.probe), 1) + 1
						break
					}
				}
				if landed < 0 {
					t.Fatalf("no growth was sized with the measured rate:\n%s", s.story())
				}
				for probe := landed; probe < len(s.freeShares); probe++ {
					if s.freeShares[probe] < 0.10 {
						t.Fatalf("%.1f %% free after %s, below 10 %%:\n%s", 100*s.freeShares[probe], time.Duration(probe+1)*s.probe, s.story())
					}
				}
			})
		}
	}
}

// TestPropertyBurstGivesAtMostOneForecastGrowth: a single burst of writes
// followed by a flat line never leads to more than one forecast growth,
// whatever the size, fill, horizon, cooldown, and ext4's reserved blocks
// (which grow with the filesystem and once read as a fill rate).
//
// Each check runs 1,080 plans: the checks past burstChecks return at once,
// so that the package's 10,000 checks per property stay affordable.
func TestPropertyBurstGivesAtMostOneForecastGrowth(t *testing.T) {
	const burstChecks = 300
	checked := 0
	rapid.Check(t, func(rt *rapid.T) {
		if checked++; checked > burstChecks {
			return
		}
		sizeGi := rapid.Int64Range(10, 200).Draw(rt, "sizeGi")
		usedPercent := rapid.Float64Range(20, 70).Draw(rt, "usedPercent")
		horizon := time.Duration(rapid.IntRange(1, 48).Draw(rt, "horizonHours")) * time.Hour
		cooldown := time.Duration(rapid.SampledFrom([]int{0, 1, 5, 30}).Draw(rt, "cooldownMinutes")) * time.Minute
		s := newFillSimulation(t, sizeGi, usedPercent, 10*time.Second, 10*time.Second, func(spec *v1alpha1.StorageAutoscalePolicySpec) {
			spec.Volumes.Data.Forecast.Horizon = metav1.Duration{Duration: horizon}
			spec.Volumes.Data.Cooldown = metav1.Duration{Duration: cooldown}
		})
		s.reservedShare = rapid.SampledFrom([]float64{0, 0.05}).Draw(rt, "reservedShare")
		burstBytes := float64(s.filesystemBytes()) * rapid.Float64Range(0.01, 0.2).Draw(rt, "burstShare")
		burstProbes := rapid.IntRange(1, 3).Draw(rt, "burstProbes")
		for probe := range int(3 * time.Hour / s.probe) {
			written := 0.0
			if probe >= 30 && probe < 30+burstProbes {
				written = burstBytes / float64(burstProbes)
			}
			s.step(written)
		}
		forecasts := 0
		for _, growth := range s.growths {
			if strings.Contains(growth.decision.Trigger, "forecast") {
				forecasts++
			}
		}
		if forecasts > 1 {
			rt.Fatalf("%d forecast growths after one burst:\n%s", forecasts, s.story())
		}
	})
}

// TestAFillWithTheWindowClosedNeverFillsTheVolume: with planned growth
// queued for a maintenance window that is closed, a sudden fill of a 1 GiB
// volume from 75 % must be grown before it is full. On the sandbox (issue
// #21's closed-window run) a fill at 32 MiB/s hit ENOSPC: the critical
// threshold (95 %) is 1.5 s from full at that rate, and a 2 s probe saw it
// too late for any reaction. Now the growth goes as an emergency as soon
// as the sidecar's latest rate (two probe intervals) says the critical
// threshold is nearer than a growth takes to land. Not covered, because it
// does not hold: 50 MiB/s, where the second interval of the fill already
// ends at 96 %, so the latest rate comes with the critical threshold
// itself and a 2 s reaction lands on a full volume.
func TestAFillWithTheWindowClosedNeverFillsTheVolume(t *testing.T) {
	for _, rateMiB := range []int64{5, 10, 20, 32} {
		t.Run(fmt.Sprintf("%d MiB/s", rateMiB), func(t *testing.T) {
			rate := rateMiB * mebibyte
			s := newFillSimulation(t, 1, 75, 2*time.Second, 2*time.Second, func(spec *v1alpha1.StorageAutoscalePolicySpec) {
				nightlyWindow(spec)
				spec.Volumes.Data.Limit = quantityPtr(quantityOf(100 * tebibyte))
			})
			// Calm first, as a volume is before a fill: the sidecar has
			// samples of it.
			for range 35 {
				s.step(0)
			}
			for range int(2 * time.Minute / s.probe) {
				s.step(float64(rate) * s.probe.Seconds())
			}
			for probe, free := range s.freeShares {
				if free <= 0 {
					t.Fatalf("full after %s:\n%s", time.Duration(probe+1)*s.probe, s.story())
				}
			}
		})
	}
}

// TestAFastFillIsGrownBeforeItLeavesTenPercentFree: a 1 GiB volume at 75 %,
// calm for a minute, then filled at up to 100 MiB/s, keeps 10 % free under
// a default policy with the sidecar measuring every 100 ms and a growth
// landing 1.1 s after its sample (the sandbox's p50, docs/performance.md);
// with the sandbox's worst reaction (1.8 s), up to 50 MiB/s. Issue #21:
// with a 2 s probe and the growth decided at the trigger, the 50 MiB/s
// fill left 5.6 %. The growth is now decided when the latest rate (the
// last 200 ms) reaches the trigger within 5 s (triggerAnticipated). Not
// covered, because it does not hold: 75 and 100 MiB/s with a 1.8 s
// reaction (9.9 % and 4.9 % free): 1.8 s is 14-19 % of the volume at
// those rates, and the fill is seen at 77-78 %.
func TestAFastFillIsGrownBeforeItLeavesTenPercentFree(t *testing.T) {
	for _, reaction := range []time.Duration{1100 * time.Millisecond, 1800 * time.Millisecond} {
		for _, rateMiB := range []int64{5, 10, 20, 32, 50, 75, 100} {
			if reaction > 1100*time.Millisecond && rateMiB > 50 {
				continue
			}
			t.Run(fmt.Sprintf("%d MiB/s, reaction %s", rateMiB, reaction), func(t *testing.T) {
				rate := rateMiB * mebibyte
				s := newFillSimulation(t, 1, 75, 100*time.Millisecond, reaction, func(spec *v1alpha1.StorageAutoscalePolicySpec) {
					spec.Volumes.Data.Limit = quantityPtr(quantityOf(100 * tebibyte))
				})
				for range int(time.Minute / s.probe) {
					s.step(0)
				}
				for range int(30 * time.Second / s.probe) {
					s.step(float64(rate) * s.probe.Seconds())
				}
				lowest := 1.0
				for _, free := range s.freeShares {
					lowest = min(lowest, free)
				}
				if lowest < 0.10 {
					t.Errorf("%.1f %% free, below 10 %%:\n%s", 100*lowest, s.story())
				}
			})
		}
	}
}
