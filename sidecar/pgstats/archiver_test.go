package pgstats

import (
	"testing"
	"time"
)

func TestArchivingHealthy(t *testing.T) {
	at := func(minute int) *time.Time { ts := t0.Add(time.Duration(minute) * time.Minute); return &ts }
	cases := []struct {
		name                 string
		enabled              bool
		lastArchived, failed *time.Time
		want                 bool
	}{
		{name: "archiving off is healthy even after failures", enabled: false, failed: at(1), want: true},
		{name: "no failure yet is healthy", enabled: true, lastArchived: at(1), want: true},
		{name: "nothing archived and nothing failed is healthy", enabled: true, want: true},
		{name: "a failure and never a success is unhealthy", enabled: true, failed: at(1)},
		{name: "a failure newer than the last success is unhealthy", enabled: true, lastArchived: at(1), failed: at(2)},
		{name: "a success after the failure is healthy again", enabled: true, lastArchived: at(3), failed: at(2), want: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := archivingHealthy(tc.enabled, tc.lastArchived, tc.failed); got != tc.want {
				t.Fatalf("archivingHealthy = %t, want %t", got, tc.want)
			}
		})
	}
}
