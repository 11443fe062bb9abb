package decide

import (
	"strings"
	"testing"
	"time"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

func TestProbeInterval(t *testing.T) {
	vol := func(usedPercent, fillRate int64) v1alpha1.ObservedVolume {
		return v1alpha1.ObservedVolume{
			Name: "pg-wal", CapacityBytes: 100 * gib, UsedBytes: usedPercent * gib,
			AvailableBytes: (100 - usedPercent) * gib, FillRateBytesPerSecond: fillRate,
		}
	}
	cases := []struct {
		name    string
		volumes []v1alpha1.ObservedVolume
		want    time.Duration
		reason  string
	}{
		{name: "quiet volumes probe at the normal interval", volumes: []v1alpha1.ObservedVolume{vol(50, 0), vol(79, 0)}, want: 10 * time.Second},
		{name: "exactly 80% used is still normal", volumes: []v1alpha1.ObservedVolume{vol(80, 0)}, want: 10 * time.Second},
		{name: "above 80% used probes fast", volumes: []v1alpha1.ObservedVolume{vol(50, 0), vol(81, 0)}, want: 2 * time.Second, reason: "above 80%"},
		// 50 GiB free at 15 MiB/s is 57 minutes.
		{name: "full within the hour probes fast", volumes: []v1alpha1.ObservedVolume{vol(50, 15<<20)}, want: 2 * time.Second, reason: "fills in"},
		// 50 GiB free at 14 MiB/s is 61 minutes.
		{name: "full in just over an hour is normal", volumes: []v1alpha1.ObservedVolume{vol(50, 14<<20)}, want: 10 * time.Second},
		{name: "an emptying volume is normal", volumes: []v1alpha1.ObservedVolume{vol(50, -1<<30)}, want: 10 * time.Second},
		{name: "no volumes is normal", want: 10 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := ProbeInterval(tc.volumes, 10*time.Second, 2*time.Second)
			if got != tc.want || !strings.Contains(reason, tc.reason) {
				t.Fatalf("ProbeInterval = %s %q, want %s with %q", got, reason, tc.want, tc.reason)
			}
		})
	}
}

func TestPostgresDue(t *testing.T) {
	asked := t0
	cases := []struct {
		name       string
		lastAsked  time.Time
		now        time.Time
		every      time.Duration
		wantAsking bool
	}{
		{name: "never asked: ask", now: t0, every: 10 * time.Second, wantAsking: true},
		{name: "2s after an ask at the normal interval: disks only", lastAsked: asked, now: asked.Add(2 * time.Second), every: 10 * time.Second},
		{name: "8s after: disks only", lastAsked: asked, now: asked.Add(8 * time.Second), every: 10 * time.Second},
		{name: "a cycle a little early for the interval still asks", lastAsked: asked, now: asked.Add(9*time.Second + 100*time.Millisecond), every: 10 * time.Second, wantAsking: true},
		{name: "10s after: ask", lastAsked: asked, now: asked.Add(10 * time.Second), every: 10 * time.Second, wantAsking: true},
		{name: "probing fast, every cycle asks", lastAsked: asked, now: asked.Add(2 * time.Second), every: 2 * time.Second, wantAsking: true},
		{name: "probing fast, a cycle a little early still asks", lastAsked: asked, now: asked.Add(1900 * time.Millisecond), every: 2 * time.Second, wantAsking: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := PostgresDue(tc.lastAsked, tc.now, tc.every, 2*time.Second); got != tc.wantAsking {
				t.Fatalf("PostgresDue = %t, want %t", got, tc.wantAsking)
			}
		})
	}
}

// TestDiskInterval: ten measurements a second only where a fast fill
// threatens a volume (issue #21); the rest pay the 2 s cadence.
func TestDiskInterval(t *testing.T) {
	const disk, fast = 100 * time.Millisecond, 2 * time.Second
	volume := func(availableMiB, latestMiBPerSecond int64) v1alpha1.ObservedVolume {
		return v1alpha1.ObservedVolume{Name: "pgdata", CapacityBytes: 1 << 40, AvailableBytes: availableMiB << 20, LatestFillRateBytesPerSecond: latestMiBPerSecond << 20}
	}
	cases := []struct {
		name    string
		volumes []v1alpha1.ObservedVolume
		want    time.Duration
	}{
		{name: "a calm volume with 10 GiB free", volumes: []v1alpha1.ObservedVolume{volume(10240, 0)}, want: fast},
		{name: "a 1 GiB volume, 256 MiB free", volumes: []v1alpha1.ObservedVolume{volume(10240, 0), volume(256, 0)}, want: disk},
		{name: "just under 6000 MiB free", volumes: []v1alpha1.ObservedVolume{volume(5999, 0)}, want: disk},
		{name: "10 GiB free, filled within a minute at its latest rate", volumes: []v1alpha1.ObservedVolume{volume(10240, 200)}, want: disk},
		{name: "10 GiB free, filled in more than a minute", volumes: []v1alpha1.ObservedVolume{volume(10240, 100)}, want: fast},
		{name: "no volume measured", want: fast},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := DiskInterval(tc.volumes, disk, fast); got != tc.want {
				t.Fatalf("DiskInterval = %s, want %s", got, tc.want)
			}
		})
	}
}
