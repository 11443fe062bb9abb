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
	recorder.SetConditions("db", "orders", nil)
	recorder.SetWALCause("db", "orders", "")
	recorder.ForgetCluster("db", "orders")
}

// series returns the label sets and values of a metric's series.
func series(t *testing.T, registry *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	families, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, family := range families {
		if family.GetName() != name {
			continue
		}
		for _, metric := range family.GetMetric() {
			key := ""
			for _, pair := range metric.GetLabel() {
				if pair.GetName() == LabelNamespace || pair.GetName() == LabelCluster || pair.GetName() == LabelRole || pair.GetName() == LabelTablespace {
					continue
				}
				key += pair.GetName() + "=" + pair.GetValue() + " "
			}
			found[key] = metric.GetGauge().GetValue()
		}
	}
	return found
}

func TestVolumeStateKeepsOneSeriesPerPVC(t *testing.T) {
	registry := prometheus.NewRegistry()
	recorder, err := New(registry)
	if err != nil {
		t.Fatal(err)
	}
	volume := func(state, gate string) VolumeFigures {
		return VolumeFigures{
			Volume: Volume{PVC: "orders-1", Role: "data"}, CapacityBytes: 10, Observed: true, UsedBytes: 5, FreeBytes: 5,
			RequestedBytes: 20, LimitBytes: 100,
			InodesTotal: 100, InodesFree: 40, State: state, Gate: gate, CriticalUsedPercent: 95,
		}
	}
	recorder.SetCluster("db", "orders", []VolumeFigures{volume("Queued", "MaintenanceWindow")}, nil)
	recorder.SetCluster("db", "orders", []VolumeFigures{volume("Growing", "")}, nil)
	want := map[string]float64{"gate= pvc=orders-1 state=Growing ": 1}
	if got := series(t, registry, "pgstorage_volume_state"); !equalSeries(got, want) {
		t.Errorf("volume_state = %v, want %v", got, want)
	}
	for name, value := range map[string]float64{
		"pgstorage_volume_critical_used_ratio": 0.95,
		"pgstorage_volume_requested_bytes":     20,
		"pgstorage_volume_limit_bytes":         100,
		"pgstorage_volume_inodes_total":        100,
		"pgstorage_volume_inodes_free":         40,
	} {
		if got := series(t, registry, name); !equalSeries(got, map[string]float64{"pvc=orders-1 ": value}) {
			t.Errorf("%s = %v, want %v", name, got, value)
		}
	}
	// Not observed: the inode figures go, the state, threshold, request
	// and limit stay.
	stale := volume("Stale", "ObservationStale")
	stale.Observed = false
	recorder.SetCluster("db", "orders", []VolumeFigures{stale}, nil)
	for name, want := range map[string]int{
		"pgstorage_volume_state":               1,
		"pgstorage_volume_critical_used_ratio": 1,
		"pgstorage_volume_requested_bytes":     1,
		"pgstorage_volume_limit_bytes":         1,
		"pgstorage_volume_inodes_total":        0,
		"pgstorage_volume_inodes_free":         0,
	} {
		if got := seriesCount(t, registry, name); got != want {
			t.Errorf("%s: %d series, want %d", name, got, want)
		}
	}
	// No rule grows it any more: no limit.
	ruleless := volume("Idle", "NoRule")
	ruleless.LimitBytes, ruleless.CriticalUsedPercent = 0, 0
	recorder.SetCluster("db", "orders", []VolumeFigures{ruleless}, nil)
	if got := seriesCount(t, registry, "pgstorage_volume_limit_bytes"); got != 0 {
		t.Errorf("%d limit series for a PVC no rule grows", got)
	}
	recorder.SetCluster("db", "orders", nil, nil)
	for _, name := range []string{"pgstorage_volume_state", "pgstorage_volume_requested_bytes"} {
		if got := seriesCount(t, registry, name); got != 0 {
			t.Errorf("%d %s series after the PVC went away", got, name)
		}
	}
}

func TestConditionsAndWALCause(t *testing.T) {
	registry := prometheus.NewRegistry()
	recorder, err := New(registry)
	if err != nil {
		t.Fatal(err)
	}
	recorder.SetConditions("db", "orders", map[string]bool{"SidecarMissing": true, "ObservationsStale": false})
	recorder.SetWALCause("db", "orders", "ArchiveFailing")
	recorder.SetWALCause("db", "orders", "SlotRetention")
	if got, want := series(t, registry, "pgstorage_policy_condition"), map[string]float64{
		"condition=SidecarMissing ": 1, "condition=ObservationsStale ": 0,
	}; !equalSeries(got, want) {
		t.Errorf("policy_condition = %v, want %v", got, want)
	}
	if got, want := series(t, registry, "pgstorage_wal_unsafe"), map[string]float64{"cause=SlotRetention ": 1}; !equalSeries(got, want) {
		t.Errorf("wal_unsafe = %v, want %v", got, want)
	}
	// A later SetCluster keeps them; a healthy WAL and a dropped condition remove them.
	recorder.SetCluster("db", "orders", nil, nil)
	recorder.SetConditions("db", "orders", map[string]bool{"SidecarMissing": false})
	recorder.SetWALCause("db", "orders", "")
	if got, want := series(t, registry, "pgstorage_policy_condition"), map[string]float64{"condition=SidecarMissing ": 0}; !equalSeries(got, want) {
		t.Errorf("policy_condition = %v, want %v", got, want)
	}
	if got := seriesCount(t, registry, "pgstorage_wal_unsafe"); got != 0 {
		t.Errorf("%d wal_unsafe series while WAL is healthy", got)
	}
	recorder.SetWALCause("db", "orders", "Unknown")
	recorder.ForgetCluster("db", "orders")
	for _, name := range []string{"pgstorage_policy_condition", "pgstorage_wal_unsafe"} {
		if got := seriesCount(t, registry, name); got != 0 {
			t.Errorf("%s: %d series after ForgetCluster", name, got)
		}
	}
}

func equalSeries(got, want map[string]float64) bool {
	if len(got) != len(want) {
		return false
	}
	for key, value := range want {
		if actual, ok := got[key]; !ok || actual != value {
			return false
		}
	}
	return true
}
