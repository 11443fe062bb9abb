package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func seriesCount(t *testing.T, registry *prometheus.Registry, name string) int {
	t.Helper()
	families, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, family := range families {
		if family.GetName() == name {
			return len(family.GetMetric())
		}
	}
	return 0
}

func TestSetClusterDropsTheSeriesOfPVCsAndGatesThatWentAway(t *testing.T) {
	registry := prometheus.NewRegistry()
	recorder, err := New(registry)
	if err != nil {
		t.Fatal(err)
	}
	observed := func(pvc string) VolumeFigures {
		return VolumeFigures{Volume: Volume{PVC: pvc, Role: "data"}, CapacityBytes: 10, Observed: true, UsedBytes: 5, FreeBytes: 5, TimeToFullSeconds: 60}
	}
	recorder.SetCluster("db", "orders", []VolumeFigures{observed("orders-1"), observed("orders-2")}, map[string]int{"Budget": 2})
	if got := seriesCount(t, registry, "pgstorage_volume_used_bytes"); got != 2 {
		t.Fatalf("%d used-bytes series, want 2", got)
	}
	// orders-2 is gone, orders-1 has no fresh observation, nothing is blocked.
	recorder.SetCluster("db", "orders", []VolumeFigures{{Volume: Volume{PVC: "orders-1", Role: "data"}, CapacityBytes: 10}}, nil)
	for name, want := range map[string]int{
		"pgstorage_volume_capacity_bytes":       1,
		"pgstorage_volume_used_bytes":           0,
		"pgstorage_volume_time_to_full_seconds": 0,
		"pgstorage_blocked":                     0,
	} {
		if got := seriesCount(t, registry, name); got != want {
			t.Errorf("%s: %d series, want %d", name, got, want)
		}
	}
	recorder.ForgetCluster("db", "orders")
	if got := seriesCount(t, registry, "pgstorage_volume_capacity_bytes"); got != 0 {
		t.Errorf("%d capacity series after ForgetCluster", got)
	}
}

func TestANilRecorderRecordsNothing(t *testing.T) {
	var recorder *Recorder
	recorder.ObserveReconcile(1)
	recorder.ObserveReaction("planned", 1)
	recorder.CountGrowth("db", "orders", "planned", "Started")
	recorder.CountNudge("db", "orders", "Nudged")
	recorder.CountObservationRejected("db", "orders", "ForeignInstance")
	recorder.SetBudget("db", "orders", 1, 1)
	recorder.SetCluster("db", "orders", nil, nil)
	recorder.ForgetCluster("db", "orders")
}
