package admission

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv/cnpgtest"
)

// The policy webhook, called by the API server: errors reject with the
// message a user reads in kubectl, warnings admit and are shown.
func TestPolicyWebhookRejectsWhatCELCannotCheck(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	ns := env.NewNamespace(t, nil)
	must(t, c.Create(ctx, cnpgtest.NewCluster(ns, "orders", cnpgtest.Shape{WAL: true})))
	must(t, c.Create(ctx, cnpgtest.NewCluster(ns, "single", cnpgtest.Shape{})))

	cases := []struct {
		name    string
		policy  func() *v1alpha1.StorageAutoscalePolicy
		wantErr string
	}{
		{"a WAL volume needs spec.volumes.wal", func() *v1alpha1.StorageAutoscalePolicy {
			p := cnpgtest.NewPolicy(ns, "no-wal", "orders", cnpgtest.Shape{WAL: true})
			p.Spec.Volumes.WAL = nil
			return p
		}, "spec.volumes.wal is required: cluster orders has a separate WAL volume (spec.walStorage); set spec.volumes.wal.limit"},
		{"a single-volume cluster needs the acknowledgement", func() *v1alpha1.StorageAutoscalePolicy {
			p := cnpgtest.NewPolicy(ns, "no-ack", "single", cnpgtest.Shape{})
			p.Spec.WALSafety.AcknowledgeSingleVolume = false
			return p
		}, "spec.walSafety.acknowledgeSingleVolume is false, but cluster single has no separate WAL volume"},
		{"a limit below the configured size", func() *v1alpha1.StorageAutoscalePolicy {
			p := cnpgtest.NewPolicy(ns, "small", "orders", cnpgtest.Shape{WAL: true})
			p.Spec.Volumes.Data.Limit = ptr.To(resource.MustParse("512Mi"))
			return p
		}, "spec.volumes.data.limit 512Mi is below cluster orders's spec.storage.size 1Gi"},
		{"step.max below step.min", func() *v1alpha1.StorageAutoscalePolicy {
			p := cnpgtest.NewPolicy(ns, "steps", "orders", cnpgtest.Shape{WAL: true})
			p.Spec.Volumes.Data.Step.Min = resource.MustParse("2Gi")
			p.Spec.Volumes.Data.Step.Max = resource.MustParse("1Gi")
			return p
		}, "spec.volumes.data.step.max 1Gi is below spec.volumes.data.step.min 2Gi"},
		{"a cron schedule that does not parse", func() *v1alpha1.StorageAutoscalePolicy {
			p := cnpgtest.NewPolicy(ns, "cron", "orders", cnpgtest.Shape{WAL: true})
			p.Spec.MaintenanceWindows = []v1alpha1.MaintenanceWindow{{Schedule: "0 25 * * *", Duration: metav1Duration("1h")}}
			return p
		}, `spec.maintenanceWindows[0].schedule "0 25 * * *" does not parse`},
		{"a time zone written into the schedule", func() *v1alpha1.StorageAutoscalePolicy {
			p := cnpgtest.NewPolicy(ns, "cron-tz", "orders", cnpgtest.Shape{WAL: true})
			p.Spec.MaintenanceWindows = []v1alpha1.MaintenanceWindow{{Schedule: "TZ=Europe/Berlin 0 2 * *", Duration: metav1Duration("1h")}}
			return p
		}, `spec.maintenanceWindows[0].schedule "TZ=Europe/Berlin 0 2 * *" does not parse (set the time zone in timeZone, not in the schedule)`},
		{"an unknown time zone", func() *v1alpha1.StorageAutoscalePolicy {
			p := cnpgtest.NewPolicy(ns, "tz", "orders", cnpgtest.Shape{WAL: true})
			p.Spec.MaintenanceWindows = []v1alpha1.MaintenanceWindow{{Schedule: "0 2 * * *", Duration: metav1Duration("1h"), TimeZone: "Mars/Olympus"}}
			return p
		}, `spec.maintenanceWindows[0].timeZone "Mars/Olympus" is not a known time zone`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Create(ctx, tc.policy())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v\nwant an error containing %q", err, tc.wantErr)
			}
		})
	}

	t.Run("one policy per cluster: the second is rejected with the first's name", func(t *testing.T) {
		must(t, c.Create(ctx, cnpgtest.NewPolicy(ns, "first", "orders", cnpgtest.Shape{WAL: true})))
		err := c.Create(ctx, cnpgtest.NewPolicy(ns, "second", "orders", cnpgtest.Shape{WAL: true}))
		if err == nil || !strings.Contains(err.Error(), "cluster orders already has StorageAutoscalePolicy first") {
			t.Fatalf("got %v", err)
		}
		// Updating the first is not a conflict with itself.
		first := &v1alpha1.StorageAutoscalePolicy{}
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "first"}, first))
		first.Spec.Mode = v1alpha1.ModeDryRun
		must(t, c.Update(ctx, first))
	})

	t.Run("a cluster that does not exist yet is admitted with a warning", func(t *testing.T) {
		warnings := &warningRecorder{}
		cfg := rest.CopyConfig(env.Config)
		cfg.WarningHandler = warnings
		wc, err := client.New(cfg, client.Options{Scheme: env.Scheme})
		must(t, err)
		must(t, wc.Create(ctx, cnpgtest.NewPolicy(ns, "later", "not-yet", cnpgtest.Shape{WAL: true})))
		if !strings.Contains(strings.Join(warnings.messages, "\n"), "CNPG Cluster not-yet does not exist in namespace") {
			t.Errorf("warnings %q", warnings.messages)
		}
	})
}

type warningRecorder struct{ messages []string }

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, message string) {
	w.messages = append(w.messages, message)
}
