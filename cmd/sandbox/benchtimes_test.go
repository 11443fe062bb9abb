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
		{at(50), 81}, {at(52), 96}, // growth 3 crosses at 50, is decided on 52 (an emergency)
	}
	claims := []claimSample{
		{at(0), gi, gi},
		{at(4.5), 2 * gi, gi}, {at(6), 2 * gi, 2 * gi},
		{at(31), 3 * gi, 2 * gi}, {at(33), 3 * gi, 3 * gi},
		{at(60), 4 * gi, 3 * gi}, // growth 3: never provisioned in the samples
	}
	filesystems := []filesystemSample{
		{at(0), gi * 96 / 100}, {at(7), 2 * gi * 96 / 100}, {at(34.5), 3 * gi * 96 / 100},
	}
	got := growthTimings(observations, claims, filesystems, 80)
	if len(got) != 3 {
		t.Fatalf("%d growths, want 3: %+v", len(got), got)
	}
	want := [][]time.Duration{
		{0, 500 * time.Millisecond, 1500 * time.Millisecond, time.Second, 3 * time.Second, 3 * time.Second},
		{0, time.Second, 2 * time.Second, 1500 * time.Millisecond, 4500 * time.Millisecond, 4500 * time.Millisecond},
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
	if got[2].complete() {
		t.Errorf("growth 3 complete without a provisioned capacity: %+v", got[2])
	}
	if !got[2].crossed.Equal(at(50)) || !got[2].decided.Equal(at(52)) {
		t.Errorf("growth 3 crossed at %s and was decided on %s, want %s and %s", got[2].crossed, got[2].decided, at(50), at(52))
	}
	table := benchTable(got)
	for _, line := range []string{"| trigger crossed → filesystem grown | 2 | 3.0 s | 4.5 s | 4.5 s | 4.5 s |", "1 growth(s) not seen to the end are left out."} {
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
