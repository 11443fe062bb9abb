package decide

import (
	"math"
	"testing"
	"time"
)

func TestFillRate(t *testing.T) {
	type step struct {
		after    time.Duration
		used     int64
		capacity int64
	}
	// then continues steps from after, every interval, n times, used
	// growing by bytesPerSecond from used, on a filesystem of capacity.
	then := func(steps []step, after, every time.Duration, n int, used, bytesPerSecond, capacity int64) []step {
		for i := range n {
			d := time.Duration(i) * every
			steps = append(steps, step{after + d, used + int64(d.Seconds())*bytesPerSecond, capacity})
		}
		return steps
	}
	linear := func(every time.Duration, n int, bytesPerSecond int64) []step {
		var steps []step
		for i := range n {
			d := time.Duration(i) * every
			steps = append(steps, step{d, 1<<30 + int64(d.Seconds())*bytesPerSecond, 4 << 30})
		}
		return steps
	}
	cases := []struct {
		name   string
		steps  []step
		want   float64
		wantOK bool
	}{
		{name: "a steady fill is its slope", steps: linear(10*time.Second, 30, 1<<20), want: 1 << 20, wantOK: true},
		{name: "an emptying volume is negative", steps: linear(2*time.Second, 30, -4096), want: -4096, wantOK: true},
		{name: "a flat volume is zero", steps: linear(10*time.Second, 10, 0), want: 0, wantOK: true},
		{name: "one sample gives no rate", steps: linear(time.Second, 1, 5)},
		{name: "samples spanning less than 20s give no rate", steps: linear(2*time.Second, 10, 1<<20)},
		{
			name: "samples older than the window are forgotten",
			// 30 min at +1 MiB/s, then 10 min flat: only the flat part counts.
			steps: append(linear(10*time.Second, 180, 1<<20), func() []step {
				var s []step
				for i := range 61 {
					s = append(s, step{30*time.Minute + time.Duration(i)*10*time.Second, 1<<30 + 1800<<20, 4 << 30})
				}
				return s
			}()...),
			want: 0, wantOK: true,
		},
		{
			name:  "a clock stepping back restarts the series",
			steps: append(linear(10*time.Second, 30, 1<<20), step{-time.Hour, 5, 4 << 30}, step{-time.Hour + time.Second, 6, 4 << 30}),
		},
		{name: "more samples than the ring holds keep the slope", steps: linear(time.Second, 600, 777), want: 777, wantOK: true},
		{
			// ext4 grown from 1 to 2 GiB: its reserved blocks (5 %) grow
			// with it and read as 51 MiB more used, in no time at all.
			name:  "the jump of a capacity change is no fill",
			steps: then(then(nil, 0, 10*time.Second, 30, 1<<29, 0, 1<<30), 5*time.Minute, 10*time.Second, 30, 1<<29+51<<20, 0, 2<<30),
			want:  0, wantOK: true,
		},
		{
			name:  "a fill goes on across a capacity change",
			steps: then(then(nil, 0, 10*time.Second, 30, 1<<29, 1<<20, 1<<30), 5*time.Minute, 10*time.Second, 30, 1<<29+300<<20+51<<20, 1<<20, 2<<30),
			want:  1 << 20, wantOK: true,
		},
		{
			// At 100 MiB/s every growth of a small volume lasts seconds: the
			// rate is still known, from the runs between the growths.
			name: "growths faster than the minimum span keep the rate",
			steps: func() []step {
				var steps []step
				for growth := range int64(5) {
					steps = then(steps, time.Duration(growth)*10*time.Second, 2*time.Second, 4, growth*(1<<30), 100<<20, (growth+1)<<30)
				}
				return steps
			}(),
			want: 100 << 20, wantOK: true,
		},
		{
			// A burst across the middle of the window fills both halves;
			// once the volume grew, nothing more is written.
			name:  "a burst across the middle is no rate once the volume grew and stays flat",
			steps: then(then(then(nil, 0, 10*time.Second, 30, 1<<30, 0, 4<<30), 5*time.Minute, 10*time.Second, 3, 1<<30, 10<<20, 4<<30), 5*time.Minute+30*time.Second, 10*time.Second, 3, 1<<30+300<<20, 0, 8<<30),
			want:  0, wantOK: true,
		},
		{
			name:  "too short runs at each size give no rate",
			steps: then(then(nil, 0, 2*time.Second, 5, 1<<29, 1<<20, 1<<30), 10*time.Second, 2*time.Second, 5, 1<<29+10<<20, 1<<20, 2<<30),
		},
		{
			// 4 min flat, a 500 MiB burst between two samples, 6 min flat:
			// the slope of the whole window is positive, but no write is
			// sustained over both halves of it.
			name:  "a single burst is no sustained rate",
			steps: then(then(nil, 0, 10*time.Second, 24, 1<<30, 0, 4<<30), 4*time.Minute, 10*time.Second, 37, 1<<30+500<<20, 0, 4<<30),
			want:  0, wantOK: true,
		},
		{
			name:  "a fill in the newer half only is not sustained yet",
			steps: then(then(nil, 0, 10*time.Second, 30, 1<<30, 0, 4<<30), 5*time.Minute, 10*time.Second, 30, 1<<30, 1<<20, 4<<30),
			want:  0, wantOK: true,
		},
		{
			name:  "a rate sustained over both halves is the lower of the two",
			steps: then(then(nil, 0, 10*time.Second, 30, 1<<30, 1<<20, 4<<30), 5*time.Minute, 10*time.Second, 30, 1<<30+300<<20, 2<<20, 4<<30),
			want:  1 << 20, wantOK: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f FillRate
			for _, s := range tc.steps {
				f.Add(Sample{At: t0.Add(s.after), UsedBytes: s.used, CapacityBytes: s.capacity})
			}
			got, ok := f.BytesPerSecond()
			if ok != tc.wantOK || math.Abs(got-tc.want) > 0.5 {
				t.Fatalf("BytesPerSecond = %v %t, want %v %t", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestTimeToFull(t *testing.T) {
	if d, ok := TimeToFull(3600<<20, 1<<20); !ok || d != time.Hour {
		t.Fatalf("3600 MiB at 1 MiB/s: %s %t, want 1h", d, ok)
	}
	if _, ok := TimeToFull(1<<30, 0); ok {
		t.Fatal("a flat volume has no time to full")
	}
	if _, ok := TimeToFull(1<<30, -1); ok {
		t.Fatal("an emptying volume has no time to full")
	}
}

// The last minute's rate sizes growths: it must see a fill that started
// after ten calm minutes, which the 10-minute rate does not count yet, and
// still read a burst as no rate.
func TestRecentFillRate(t *testing.T) {
	// samples adds n samples every interval from after, used growing by
	// bytesPerSecond from used, on a filesystem of capacity.
	samples := func(f *FillRate, after, every time.Duration, n int, used, bytesPerSecond, capacity int64) {
		for i := range n {
			d := time.Duration(i) * every
			f.Add(Sample{At: t0.Add(after + d), UsedBytes: used + int64(d.Seconds())*bytesPerSecond, CapacityBytes: capacity})
		}
	}
	cases := []struct {
		name                 string
		fill                 func(*FillRate)
		wantRecent, wantLong float64
	}{
		{
			name: "a fill that started 40s ago after nine calm minutes",
			fill: func(f *FillRate) {
				samples(f, 0, 10*time.Second, 54, 1<<30, 0, 4<<30)
				samples(f, 9*time.Minute, 2*time.Second, 21, 1<<30, 10<<20, 4<<30)
			},
			wantRecent: 10 << 20, wantLong: 0,
		},
		{
			name:       "a steady fill reads the same over the last minute",
			fill:       func(f *FillRate) { samples(f, 0, 10*time.Second, 60, 1<<30, 1<<20, 4<<30) },
			wantRecent: 1 << 20, wantLong: 1 << 20,
		},
		{
			name: "a burst 50s ago, then nothing, is no rate",
			fill: func(f *FillRate) {
				samples(f, 0, 10*time.Second, 54, 1<<30, 0, 4<<30)
				samples(f, 9*time.Minute, 2*time.Second, 30, 1<<30+200<<20, 0, 4<<30)
			},
			wantRecent: 0, wantLong: 0,
		},
		{
			name: "at 100 MiB/s through a growth every 10s",
			fill: func(f *FillRate) {
				samples(f, 0, 10*time.Second, 54, 1<<29, 0, 1<<30)
				for growth := range int64(4) {
					samples(f, 9*time.Minute+time.Duration(growth)*10*time.Second, 2*time.Second, 5, 1<<29+growth*(1<<30), 100<<20, (growth+1)<<30)
				}
			},
			wantRecent: 100 << 20, wantLong: 0,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f FillRate
			tc.fill(&f)
			recent, recentOK := f.RecentBytesPerSecond()
			long, longOK := f.BytesPerSecond()
			if !recentOK || !longOK || math.Abs(recent-tc.wantRecent) > 0.5 || math.Abs(long-tc.wantLong) > 0.5 {
				t.Fatalf("recent %v (%t), ten minutes %v (%t); want %v and %v", recent, recentOK, long, longOK, tc.wantRecent, tc.wantLong)
			}
		})
	}
}

func TestLatestFillRate(t *testing.T) {
	// at adds a sample s seconds after t0 with used MiB of a 1 GiB volume.
	at := func(f *FillRate, seconds float64, usedMiB int64, capacity int64) {
		f.Add(Sample{At: t0.Add(time.Duration(seconds * float64(time.Second))), UsedBytes: usedMiB << 20, CapacityBytes: capacity})
	}
	cases := []struct {
		name    string
		samples [][2]float64 // seconds, used MiB, on 1 GiB
		grownAt float64      // samples from here on are on 2 GiB; 0: none
		want    float64
		wantOK  bool
	}{
		{name: "two samples are not enough", samples: [][2]float64{{0, 768}, {2, 832}}},
		{name: "a fill at 32 MiB/s seen over two intervals", samples: [][2]float64{{0, 768}, {2, 768}, {4, 832}, {6, 896}}, want: 32 << 20, wantOK: true},
		{name: "the slower of the two intervals", samples: [][2]float64{{0, 768}, {2, 788}, {4, 852}}, want: 10 << 20, wantOK: true},
		{name: "one write between two samples, then nothing, is no rate", samples: [][2]float64{{0, 768}, {2, 768}, {4, 868}, {6, 868}}, want: 0, wantOK: true},
		{name: "the write just seen is not yet a rate", samples: [][2]float64{{0, 768}, {2, 768}, {4, 868}}, want: 0, wantOK: true},
		{name: "an emptying volume reads 0", samples: [][2]float64{{0, 868}, {2, 850}, {4, 830}}, want: 0, wantOK: true},
		{name: "samples across a growth are no rate", samples: [][2]float64{{0, 768}, {2, 832}, {4, 896}}, grownAt: 4},
		{name: "samples 12 s apart (a paused pod) are no rate", samples: [][2]float64{{0, 768}, {6, 832}, {12, 896}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f FillRate
			for _, s := range tc.samples {
				capacity := int64(1 << 30)
				if tc.grownAt > 0 && s[0] >= tc.grownAt {
					capacity = 2 << 30
				}
				at(&f, s[0], int64(s[1]), capacity)
			}
			got, ok := f.LatestBytesPerSecond()
			if ok != tc.wantOK || math.Abs(got-tc.want) > 0.5 {
				t.Fatalf("latest %v (%t), want %v (%t)", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestTheRingKeepsItsSpacingWhileTheLatestRateReadsEveryMeasurement: the
// sidecar measures the disks every 100 ms (issue #21: at 100 MiB/s a 1 GiB
// volume moves 20 % between two 2 s probes), but the sustained rates keep
// reading ten minutes of samples 2 s apart, which a ring of 512 could not
// hold at a sub-second spacing. The latest rate sees a fill two
// measurements after it starts.
func TestTheRingKeepsItsSpacingWhileTheLatestRateReadsEveryMeasurement(t *testing.T) {
	const every = 250 * time.Millisecond
	f := FillRate{Spacing: 2 * time.Second}
	taken := 0
	// Twelve minutes of a steady 1 MiB/s fill on 64 GiB.
	var at time.Duration
	for ; at <= 12*time.Minute; at += every {
		if f.Add(Sample{At: t0.Add(at), UsedBytes: 10<<30 + int64(at.Seconds()*(1<<20)), CapacityBytes: 64 << 30}) {
			taken++
		}
	}
	if taken < 350 || taken > 365 {
		t.Fatalf("the ring took %d of %d measurements, want one every 2 s (361)", taken, int(12*time.Minute/every)+1)
	}
	if span := f.at(f.count - 1).At.Sub(f.at(0).At); span < FillRateWindow-2*time.Second {
		t.Fatalf("the ring spans %s, want the whole %s window", span, FillRateWindow)
	}
	if rate, ok := f.BytesPerSecond(); !ok || math.Abs(rate-(1<<20)) > 1 {
		t.Fatalf("ten-minute rate %v (%t), want 1 MiB/s", rate, ok)
	}

	// Then 100 MiB/s: the latest rate has it after two measurements.
	used := 10<<30 + int64(at.Seconds()*(1<<20))
	for i := range 3 {
		f.Add(Sample{At: t0.Add(at), UsedBytes: used + int64(i)*25<<20, CapacityBytes: 64 << 30})
		at += every
	}
	if rate, ok := f.LatestBytesPerSecond(); !ok || math.Abs(rate-100<<20) > 1 {
		t.Fatalf("latest rate %v (%t) half a second into a 100 MiB/s fill, want 100 MiB/s", rate, ok)
	}

	// A growth goes into the ring at once, however soon after its last sample.
	if !f.Add(Sample{At: t0.Add(at), UsedBytes: used + 75<<20, CapacityBytes: 65 << 30}) || f.at(f.count-1).CapacityBytes != 65<<30 {
		t.Fatal("a sample at a new size 250 ms after the ring's newest was not taken")
	}
}

// TestLatestFillBytes: what the latest rate has actually seen of a fill,
// which bounds how far the planner projects it.
func TestLatestFillBytes(t *testing.T) {
	cases := []struct {
		name string
		used []int64 // MiB, one measurement every 100 ms on 1 GiB
		// grownAt: from this measurement on the volume is 2 GiB; 0: never.
		grownAt int
		want    int64 // MiB
	}{
		{name: "a calm volume", used: []int64{700, 700, 700}, want: 0},
		{name: "a fill since the second measurement", used: []int64{700, 700, 710, 720, 730}, want: 30},
		{name: "one write between two measurements", used: []int64{700, 700, 730}, want: 30},
		{name: "a pause ends the run", used: []int64{700, 710, 720, 720}, want: 0},
		{name: "a fill after a pause counts from the pause", used: []int64{700, 710, 710, 715, 725}, want: 15},
		{name: "an emptying measurement ends the run", used: []int64{700, 710, 705, 706}, want: 1},
		{name: "a growth ends the run", used: []int64{700, 710, 720, 730, 740}, grownAt: 3, want: 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := FillRate{Spacing: 2 * time.Second}
			for i, used := range tc.used {
				capacity := int64(1 << 30)
				if tc.grownAt > 0 && i >= tc.grownAt {
					capacity = 2 << 30
				}
				f.Add(Sample{At: t0.Add(time.Duration(i) * 100 * time.Millisecond), UsedBytes: used << 20, CapacityBytes: capacity})
			}
			if got := f.LatestFillBytes(); got != tc.want<<20 {
				t.Fatalf("latest fill %d MiB, want %d MiB", got>>20, tc.want)
			}
		})
	}
}
