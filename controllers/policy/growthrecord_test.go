package policy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
)

const statusWritesFailing = "test: the policy's status cannot be written"

// failStatusWrites makes the real API server refuse every write of the
// status of the namespace's policies, with a ValidatingAdmissionPolicy, until
// the returned function is called. The controller's own status write is
// refused on the wire, as a crash, an exhausted conflict retry or an API
// error would leave it: nothing in the controller is stubbed.
func failStatusWrites(t *testing.T, w *world) (restore func()) {
	t.Helper()
	ctx := context.Background()
	name := "fail-status-" + w.namespace
	denyAll := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptrTo(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": w.namespace}},
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
					Rule: admissionregistrationv1.Rule{
						APIGroups: []string{"pgstorage.io"}, APIVersions: []string{"*"},
						Resources: []string{"storageautoscalepolicies/status"},
					},
				}}},
			},
			Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: statusWritesFailing}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	must(t, env.Client.Create(ctx, denyAll))
	must(t, env.Client.Create(ctx, binding))
	probe := func() error {
		target := &v1alpha1.StorageAutoscalePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: w.namespace, Name: "orders"}}
		return env.Client.Status().Patch(ctx, target, client.RawPatch(types.MergePatchType, []byte(`{"status":{"state":"Probe"}}`)), client.DryRunAll)
	}
	// The policy reaches the API server's admission a moment after it is
	// created: wait (with dry runs, which change nothing) until it refuses.
	eventually(t, "status writes refused", func() (bool, string) {
		err := probe()
		return err != nil && strings.Contains(err.Error(), statusWritesFailing), fmt.Sprint(err)
	})
	restored := false
	restore = func() {
		if restored {
			return
		}
		restored = true
		must(t, env.Client.Delete(ctx, binding))
		must(t, env.Client.Delete(ctx, denyAll))
		eventually(t, "status writes accepted again", func() (bool, string) {
			err := probe()
			return err == nil, fmt.Sprint(err)
		})
	}
	t.Cleanup(restore)
	return restore
}

func ptrTo[T any](value T) *T { return &value }

// The PVC patch lands but the status write that records the growth never
// does, and the controller dies. After a restart the growth is recorded
// once, charged once, and its cooldown holds the next growth.
func TestAGrowthWhoseStatusWriteFailedIsRecordedOnceAfterARestart(t *testing.T) {
	clock := newTestClock()
	w := newWorld(t, clock, worldOptions{instances: 3, dataGi: 10, walGi: 2, expandable: true})
	first := startController(t, w.namespace, clock, policy.Config{})
	w.createPolicy("orders", threeInstancePolicy)
	w.observeAll(40, 30)
	w.waitForStatus("orders", "an idle first status", func(p *v1alpha1.StorageAutoscalePolicy) (bool, string) {
		return p.Status.State == "Idle" && len(p.Status.Volumes) == 6, p.Status.State
	})

	restore := failStatusWrites(t, w)
	clock.Advance(time.Minute)
	w.observe("orders-1", map[string]float64{"orders-1": 85, "orders-1-wal": 30})
	eventually(t, "every data PVC patched to 12Gi", func() (bool, string) {
		state := ""
		ok := true
		for _, instance := range w.instances {
			got := request(w.pvc(instance))
			state += instance + "=" + got.String() + " "
			ok = ok && got.Cmp(gi(12)) == 0
		}
		return ok, state
	})
	first.Stop()
	if p := w.policy("orders"); len(p.Status.History) != 0 || len(p.Status.Budget.Actions) != 0 {
		t.Fatalf("the status write was not refused: history %v, budget %v", p.Status.History, p.Status.Budget)
	}
	restore()

	clock.Advance(time.Minute)
	startController(t, w.namespace, clock, policy.Config{})
	w.observe("orders-1", map[string]float64{"orders-1": 86, "orders-1-wal": 30})
	p := reconciledOn(w, 86)
	if len(p.Status.History) != 1 || len(p.Status.Budget.Actions) != 1 || p.Status.Budget.PlannedUsed != 1 {
		t.Fatalf("after the restart: history %+v, budget %+v; want the one growth recorded and charged once", p.Status.History, p.Status.Budget)
	}
	record := p.Status.History[0]
	if record.Role != v1alpha1.RoleData || record.Kind != v1alpha1.GrowthPlanned || record.To.Cmp(gi(12)) != 0 || record.From.Cmp(gi(10)) != 0 ||
		len(record.PVCs) != 3 || record.Outcome != v1alpha1.OutcomeInProgress || !strings.Contains(record.Trigger, "orders-1") {
		t.Errorf("history entry %+v; want the planned data growth 10Gi -> 12Gi of 3 PVCs in progress, with its trigger", record)
	}
	if action := p.Status.Budget.Actions[0]; !action.Time.Equal(&record.Time) || action.To.Cmp(gi(12)) != 0 {
		t.Errorf("budget action %+v does not match the history entry %+v", action, record)
	}

	// The growth completes; a minute later (inside the 5m cooldown) the
	// volume is over the trigger again: no second growth.
	for _, instance := range w.instances {
		w.finishResize(instance)
	}
	versions := map[string]string{}
	for _, instance := range w.instances {
		versions[instance] = w.pvc(instance).ResourceVersion
	}
	clock.Advance(time.Minute)
	w.observe("orders-1", map[string]float64{"orders-1": 87, "orders-1-wal": 30})
	p = reconciledOn(w, 87)
	for _, instance := range w.instances {
		if got := w.pvc(instance); got.ResourceVersion != versions[instance] {
			requested := request(got)
			t.Errorf("PVC %s changed inside the cooldown: requests %s", instance, requested.String())
		}
	}
	if row := rowOf(p, "orders-1"); row.Gate != "Cooldown" {
		t.Errorf("row %+v; want held by the cooldown", row)
	}
	if len(p.Status.History) != 1 || len(p.Status.Budget.Actions) != 1 {
		t.Errorf("history %+v, budget %+v; want still the one growth", p.Status.History, p.Status.Budget)
	}
}
