package kubectlplugin_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/kubectlplugin"
)

type fixedClock struct{ now time.Time }

func (c fixedClock) Now() time.Time { return c.now }

// The real controller reconciles a DryRun policy (it writes status and
// patches nothing) at testNow; explain at testNow must show, row for row,
// what the controller wrote.
func TestExplainShowsWhatTheControllerReports(t *testing.T) {
	ctx := context.Background()
	w := &world{ctx: ctx, c: env.Client}
	w.namespace("dryrun")
	w.cluster("dryrun", "inventory", 2, map[string][]volumeSpec{
		"inventory-1": {{name: "inventory-1", role: "PG_DATA", sizeGi: 10, usedPercent: 96}, {name: "inventory-1-wal", role: "PG_WAL", sizeGi: 2, usedPercent: 50}},
	}, 10*time.Second)
	w.policy("dryrun", "inventory", `
clusterRef: {name: inventory}
mode: DryRun
volumes:
  data: {limit: 12Gi}
  wal: {limit: 4Gi}
`)
	if w.err != nil {
		t.Fatal(w.err)
	}

	manager, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{"dryrun": {}}, ByObject: policy.CacheByObject()},
	})
	if err != nil {
		t.Fatal(err)
	}
	reconciler := &policy.Reconciler{
		Client: manager.GetClient(), APIReader: manager.GetAPIReader(),
		Recorder: manager.GetEventRecorder("cnpg-storage-autoscaler"),
		Clock:    fixedClock{testNow}, Config: policy.Config{ResizeTimeout: policy.DefaultResizeTimeout, QuotaRetryInterval: policy.DefaultQuotaRetryInterval},
	}
	if err := reconciler.SetupWithManager(manager, controller.Options{SkipNameValidation: ptr.To(true)}); err != nil {
		t.Fatal(err)
	}
	managerCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- manager.Start(managerCtx) }()
	saved := &v1alpha1.StorageAutoscalePolicy{}
	deadline := time.Now().Add(45 * time.Second)
	for {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "dryrun", Name: "inventory"}, saved); err != nil {
			t.Fatal(err)
		}
		if len(saved.Status.Volumes) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the controller never reported the volumes: %+v", saved.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	stdout, stderr, code := run(t, "explain", "-n", "dryrun", "inventory", "-o", "json")
	if code != kubectlplugin.ExitOK {
		t.Errorf("exit code %d, want %d (a DryRun policy holds nothing a human must fix); stderr: %s", code, kubectlplugin.ExitOK, stderr)
	}
	var explained struct {
		State     string
		WouldGrow []json.RawMessage
		Volumes   []v1alpha1.VolumeStatus
	}
	if err := json.Unmarshal([]byte(stdout), &explained); err != nil {
		t.Fatalf("explain -o json: %v\n%s", err, stdout)
	}
	if explained.State != saved.Status.State {
		t.Errorf("explain says state %s, the controller %s", explained.State, saved.Status.State)
	}
	if len(explained.WouldGrow) != 1 {
		t.Errorf("explain shows %d growths a DryRun policy would make, want 1 (the critical data volume)", len(explained.WouldGrow))
	}
	reportedRows, _ := json.Marshal(saved.Status.Volumes)
	explainedRows, _ := json.Marshal(explained.Volumes)
	if string(reportedRows) != string(explainedRows) {
		t.Errorf("explain's rows differ from the controller's:\nexplain:    %s\ncontroller: %s", explainedRows, reportedRows)
	}
}
