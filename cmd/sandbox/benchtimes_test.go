package main

import (
	"strings"
	"testing"
	"time"
)

func TestGrowthTimings(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	gi := int64(1) << 30
	observations := []observationSample{
		{at(0), 50}, {at(2), 79.9}, {at(4), 81}, {at(6), 85}, // growth 1 crosses at 4
		{at(20), 45}, {at(30), 80}, // growth 2 crosses at 30 (80 is over a trigger of 80)
		{at(40), 70}, {at(40.2), 76}, // growth 3 is decided on 40.2, under the trigger (anticipated)
		{at(50), 81}, {at(52), 96}, // growth 4 crosses at 50, is decided on 52 (an emergency)
	}
	claims := []claimSample{
		{at(0), gi, gi},
		{at(4.5), 2 * gi, gi}, {at(6), 2 * gi, 2 * gi},
		{at(31), 3 * gi, 2 * gi}, {at(33), 3 * gi, 3 * gi},
		{at(40.5), 4 * gi, 3 * gi}, {at(41.3), 4 * gi, 4 * gi},
		{at(60), 5 * gi, 4 * gi}, // growth 4: never provisioned in the samples
	}
	filesystems := []filesystemSample{
		{at(0), gi * 96 / 100}, {at(7), 2 * gi * 96 / 100}, {at(34.5), 3 * gi * 96 / 100}, {at(41.5), 4 * gi * 96 / 100},
	}
	got := growthTimings(observations, claims, filesystems, 80)
	if len(got) != 4 {
		t.Fatalf("%d growths, want 4: %+v", len(got), got)
	}
	want := map[int][]time.Duration{
		0: {0, 500 * time.Millisecond, 1500 * time.Millisecond, time.Second, 3 * time.Second, 3 * time.Second},
		1: {0, time.Second, 2 * time.Second, 1500 * time.Millisecond, 4500 * time.Millisecond, 4500 * time.Millisecond},
		2: {0, 300 * time.Millisecond, 800 * time.Millisecond, 200 * time.Millisecond, 1300 * time.Millisecond, 1300 * time.Millisecond},
	}
	for i, w := range want {
		if !got[i].complete() {
			t.Errorf("growth %d incomplete: %+v", i+1, got[i])
			continue
		}
		for j, d := range got[i].links() {
			if d != w[j] {
				t.Errorf("growth %d, %s: %s, want %s", i+1, benchLinks[j], d, w[j])
			}
		}
	}
	if got[3].complete() {
		t.Errorf("growth 4 complete without a provisioned capacity: %+v", got[3])
	}
	if !got[3].crossed.Equal(at(50)) || !got[3].decided.Equal(at(52)) {
		t.Errorf("growth 4 crossed at %s and was decided on %s, want %s and %s", got[3].crossed, got[3].decided, at(50), at(52))
	}
	if !got[2].anticipated || got[0].anticipated {
		t.Errorf("growth 3 anticipated %t, growth 1 %t; want true and false", got[2].anticipated, got[0].anticipated)
	}
	table := benchTable(got)
	for _, line := range []string{"| trigger crossed → filesystem grown | 3 | 3.0 s | 4.5 s | 4.5 s | 4.5 s |", "1 growth(s) not seen to the end are left out.",
		"1 of them were decided before a sample was over the trigger"} {
		if !strings.Contains(table, line) {
			t.Errorf("table lacks %q:\n%s", line, table)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 20; i++ {
		d = append(d, time.Duration(i)*time.Second)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 10 * time.Second}, {90, 18 * time.Second}, {99, 20 * time.Second}, {100, 20 * time.Second}, {0, time.Second}} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("p%.0f = %s, want %s", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %s", got)
	}
}
