package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func TestADroppedSlotLeavesNoStaleSeries(t *testing.T) {
	m := New()
	status := &v1alpha1.StorageObservationStatus{
		Volumes: []v1alpha1.ObservedVolume{{Name: "pg-wal", Role: v1alpha1.RoleWAL, PVC: "orders-1-wal", CapacityBytes: 1 << 30, UsedBytes: 1 << 29}},
		Postgres: v1alpha1.PostgresObservation{
			Reachable: true,
			Archiving: &v1alpha1.ArchivingObservation{Enabled: true, Healthy: false, FailedCount: 3},
			Slots:     []v1alpha1.SlotObservation{{Name: "stuck", Type: "physical", RetainedBytes: 4096}},
		},
	}
	m.SetStatus(status, true)
	body := scrape(t, m)
	for _, want := range []string{
		`pgstorage_sidecar_slot_retained_bytes{active="false",cnpg_managed="false",slot="stuck",type="physical"} 4096`,
		`pgstorage_sidecar_archive_healthy 0`,
		`pgstorage_sidecar_archive_failed_count 3`,
		`pgstorage_sidecar_volume_used_bytes{pvc="orders-1-wal",role="wal",volume="pg-wal"} 5.36870912e+08`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	// A disk measurement between two asks of PostgreSQL keeps the slot.
	m.SetStatus(status, false)
	if body := scrape(t, m); !strings.Contains(body, `slot="stuck"`) {
		t.Error("a cycle that did not ask PostgreSQL dropped the slot's series")
	}
	status.Postgres.Slots = nil
	m.SetStatus(status, true)
	if body := scrape(t, m); strings.Contains(body, `slot="stuck"`) {
		t.Error("the dropped slot is still exported")
	}
}
