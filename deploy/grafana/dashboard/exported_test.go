package dashboard

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/metrics"
	sidecarmetrics "github.com/pgstorage/cnpg-storage-autoscaler/sidecar/metrics"
)

// family is an exported metric family as Prometheus stores it: its label
// names, whether it is a histogram, and which program exports it.
type family struct {
	labels    map[string]bool
	histogram bool
	sidecar   bool
}

// describingRegistry counts the descriptors of what is registered on it,
// so the test knows how many families the controller declares even before
// they have series.
type describingRegistry struct {
	*prometheus.Registry
	described int
}

func (r *describingRegistry) Register(collector prometheus.Collector) error {
	descriptors := make(chan *prometheus.Desc)
	go func() {
		collector.Describe(descriptors)
		close(descriptors)
	}()
	for range descriptors {
		r.described++
	}
	return r.Registry.Register(collector)
}

// exportedFamilies returns every family the controller's Recorder and the
// sidecar's Metrics register, each given a series so that it shows its
// labels; the sidecar's also carry the labels Prometheus adds to a
// scraped pod.
func exportedFamilies(t *testing.T) map[string]family {
	t.Helper()
	families := map[string]family{}
	add := func(mf *dto.MetricFamily, sidecar bool) {
		f := family{labels: map[string]bool{}, histogram: mf.GetType() == dto.MetricType_HISTOGRAM, sidecar: sidecar}
		for _, m := range mf.GetMetric() {
			for _, pair := range m.GetLabel() {
				f.labels[pair.GetName()] = true
			}
		}
		if sidecar {
			f.labels[LabelTargetNamespace], f.labels[LabelTargetPod] = true, true
		}
		families[mf.GetName()] = f
	}

	registry := &describingRegistry{Registry: prometheus.NewRegistry()}
	recorder, err := metrics.New(registry)
	if err != nil {
		t.Fatal(err)
	}
	recorder.SetCluster("db", "orders", []metrics.VolumeFigures{{
		Volume:        metrics.Volume{PVC: "orders-1", Role: string(v1alpha1.RoleData)},
		CapacityBytes: 10, RequestedBytes: 10, LimitBytes: 100, Observed: true, UsedBytes: 5, FreeBytes: 5,
		TimeToFullSeconds: 60, InodesTotal: 10, InodesFree: 5, State: string(v1alpha1.VolumeIdle), CriticalUsedPercent: 95,
	}}, map[string]int{"Budget": 1})
	recorder.SetConditions("db", "orders", map[string]bool{v1alpha1.ConditionBudgetExhausted: false})
	recorder.SetWALCause("db", "orders", "ArchiveFailing")
	recorder.SetBudget("db", "orders", 1, 1)
	recorder.CountGrowth("db", "orders", string(v1alpha1.GrowthPlanned), metrics.OutcomeStarted)
	recorder.CountNudge("db", "orders", "Nudged")
	recorder.CountObservationRejected("db", "orders", "ForeignInstance")
	recorder.ObserveReaction(string(v1alpha1.GrowthPlanned), 1)
	recorder.ObserveReconcile(1)
	gathered, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(gathered) != registry.described {
		t.Fatalf("the controller declares %d metrics, this test gave series to %d: call the Recorder's new method above",
			registry.described, len(gathered))
	}
	for _, mf := range gathered {
		add(mf, false)
	}

	sidecar := sidecarmetrics.New()
	sidecar.SetStatus(&v1alpha1.StorageObservationStatus{
		Volumes: []v1alpha1.ObservedVolume{{Name: "pgdata", Role: v1alpha1.RoleData, PVC: "orders-1", CapacityBytes: 10, UsedBytes: 5}},
		Postgres: v1alpha1.PostgresObservation{
			Reachable:   true,
			Archiving:   &v1alpha1.ArchivingObservation{Enabled: true, Healthy: true},
			Slots:       []v1alpha1.SlotObservation{{Name: "standby", Type: "physical", RetainedBytes: 1}},
			Tablespaces: []v1alpha1.TablespaceObservation{{Name: "archive", Bytes: 1}},
		},
	}, true)
	sidecar.ObserveProbe(time.Millisecond, true, time.Now())
	sidecar.CountWrite("written")
	recorded := httptest.NewRecorder()
	sidecar.Handler().ServeHTTP(recorded, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(recorded.Body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	scraped, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse the sidecar's metrics: %v", err)
	}
	for _, mf := range scraped {
		add(mf, true)
	}
	return families
}

// familyOf finds the family a series name belongs to: itself, or the
// histogram whose _bucket, _sum or _count it is.
func familyOf(families map[string]family, series string) (family, bool) {
	if f, ok := families[series]; ok {
		return f, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		f, ok := families[strings.TrimSuffix(series, suffix)]
		if ok && f.histogram && strings.HasSuffix(series, suffix) {
			if suffix == "_bucket" {
				withBound := map[string]bool{model.BucketLabel: true}
				for label := range f.labels {
					withBound[label] = true
				}
				f.labels = withBound
			}
			return f, true
		}
	}
	return family{}, false
}
