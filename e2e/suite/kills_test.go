//go:build e2e

package suite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// leaseName is the controller's leader-election Lease (cmd/controller).
const leaseName = "cnpg-storage-autoscaler.pgstorage.io"

// controllerAccount is the user the controller's API calls are made as.
const controllerAccount = "system:serviceaccount:" + addonNamespace + ":" + addonName

// leader is the controller pod that holds the leader-election Lease, if that
// pod is alive; "" while the Lease is held by a pod that is gone (the
// standby takes over when the Lease expires).
func leader(ctx context.Context) (string, error) {
	lease, err := kube.Clientset.CoordinationV1().Leases(addonNamespace).Get(ctx, leaseName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if lease.Spec.HolderIdentity == nil {
		return "", nil
	}
	// controller-runtime's identity is "<hostname>_<uuid>", and a pod's
	// hostname is its name.
	name, _, _ := strings.Cut(*lease.Spec.HolderIdentity, "_")
	pod := &corev1.Pod{}
	if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: addonNamespace, Name: name}, pod); err != nil {
		return "", client.IgnoreNotFound(err)
	}
	if pod.DeletionTimestamp != nil {
		return "", nil
	}
	return name, nil
}

// killLeader kills the leading controller pod at once (no grace period, as
// a node loss or an OOM kill would): whatever it was doing stops between
// two API calls. It waits first for a live leader; it returns the pod.
func killLeader(ctx context.Context) (string, error) {
	for {
		name, err := leader(ctx)
		if err != nil {
			return "", err
		}
		if name != "" {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: addonNamespace, Name: name}}
			if err := kube.Client.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
				return "", err
			}
			return name, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// killer kills the controller's leader again and again: at a random moment
// after each new leader takes over, and at once when a watched PVC's
// request changes (right after the controller's patch).
type killer struct {
	mu    sync.Mutex
	kills []string
	stop  context.CancelFunc
	done  sync.WaitGroup
}

// startKiller starts killing; pvc is the PVC whose patches trigger a kill.
func startKiller(ctx context.Context, ns, pvc string) *killer {
	ctx, cancel := context.WithCancel(ctx)
	k := &killer{stop: cancel}
	patched := make(chan struct{}, 1)
	k.done.Add(2)
	go func() {
		defer GinkgoRecover()
		defer k.done.Done()
		var last resource.Quantity
		for ctx.Err() == nil {
			pvcObj := &corev1.PersistentVolumeClaim{}
			if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: pvc}, pvcObj); err == nil {
				request := *pvcObj.Spec.Resources.Requests.Storage()
				if !last.IsZero() && request.Cmp(last) != 0 {
					select {
					case patched <- struct{}{}:
					default:
					}
				}
				last = request
			}
			sleep(ctx, 100*time.Millisecond)
		}
	}()
	go func() {
		defer GinkgoRecover()
		defer k.done.Done()
		for ctx.Err() == nil {
			why := "at random"
			select {
			case <-ctx.Done():
				return
			case <-patched:
				why = "right after a patch of " + pvc
			case <-time.After(time.Duration(rand.Int64N(int64(8 * time.Second)))):
			}
			name, err := killLeader(ctx)
			if err != nil {
				if ctx.Err() == nil {
					GinkgoWriter.Printf("killer: %v\n", err)
				}
				continue
			}
			k.mu.Lock()
			k.kills = append(k.kills, why)
			n := len(k.kills)
			k.mu.Unlock()
			GinkgoWriter.Printf("%s kill %d: leader %s %s\n", time.Now().UTC().Format(time.TimeOnly), n, name, why)
			// Until a standby has taken the Lease, there is no one to kill.
			deadline := time.Now().Add(timeout(2 * time.Minute))
			for ctx.Err() == nil {
				if now, err := leader(ctx); err == nil && now != "" {
					break
				}
				if time.Now().After(deadline) {
					Fail(fmt.Sprintf("no new leader within %s of killing %s", timeout(2*time.Minute), name))
				}
				sleep(ctx, 500*time.Millisecond)
			}
		}
	}()
	return k
}

// count is how many kills the killer made, and how many came right after
// a patch.
func (k *killer) count() (all, afterPatch int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, why := range k.kills {
		if strings.HasPrefix(why, "right after") {
			afterPatch++
		}
	}
	return len(k.kills), afterPatch
}

// finish stops the killer once it made at least n kills.
func (k *killer) finish(ctx context.Context, n int) {
	Eventually(func() int { all, _ := k.count(); return all }).
		WithContext(ctx).WithTimeout(timeout(10 * time.Minute)).WithPolling(time.Second).Should(BeNumerically(">=", n))
	k.stop()
	k.done.Wait()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// requestLog records every request a PVC has had, polling it, until stopped.
type requestLog struct {
	mu   sync.Mutex
	seen []resource.Quantity
	stop context.CancelFunc
	done sync.WaitGroup
}

func logRequests(ctx context.Context, ns, pvc string) *requestLog {
	ctx, cancel := context.WithCancel(ctx)
	l := &requestLog{stop: cancel}
	l.done.Add(1)
	go func() {
		defer GinkgoRecover()
		defer l.done.Done()
		for ctx.Err() == nil {
			pvcObj := &corev1.PersistentVolumeClaim{}
			if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: pvc}, pvcObj); err == nil {
				request := *pvcObj.Spec.Resources.Requests.Storage()
				l.mu.Lock()
				if n := len(l.seen); n == 0 || l.seen[n-1].Cmp(request) != 0 {
					l.seen = append(l.seen, request)
				}
				l.mu.Unlock()
			}
			sleep(ctx, 100*time.Millisecond)
		}
	}()
	return l
}

// requests stops the log and returns the requests in the order seen.
func (l *requestLog) requests() []string {
	l.stop()
	l.done.Wait()
	out := make([]string, len(l.seen))
	for i, q := range l.seen {
		out[i] = q.String()
	}
	return out
}

// refusal is a set of API writes the API server refuses in one namespace,
// through a ValidatingAdmissionPolicy: as an unreachable API server, an
// exhausted conflict retry or an API error would look to the writer.
type refusal struct {
	name       string
	operations []admissionv1.OperationType
	resources  []string // of pgstorage.io
	who        string   // a CEL match condition on the request
	message    string
}

// refuseWrites makes the API server refuse r's writes in namespace ns; it
// returns the function that lifts the refusal (also run at cleanup).
func refuseWrites(ctx SpecContext, ns string, r refusal) (lift func(context.Context)) {
	name := r.name + "-" + ns
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: r.operations,
					Rule:       admissionv1.Rule{APIGroups: []string{"pgstorage.io"}, APIVersions: []string{"*"}, Resources: r.resources},
				},
			}}},
			MatchConditions: []admissionv1.MatchCondition{{Name: "who", Expression: r.who}},
			Validations:     []admissionv1.Validation{{Expression: "false", Message: r.message}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns},
			}},
		},
	}
	Expect(kube.Client.Create(ctx, policy)).To(Succeed())
	Expect(kube.Client.Create(ctx, binding)).To(Succeed())
	lifted := false
	lift = func(ctx context.Context) {
		if !lifted {
			Expect(client.IgnoreNotFound(kube.Client.Delete(ctx, binding))).To(Succeed())
			Expect(client.IgnoreNotFound(kube.Client.Delete(ctx, policy))).To(Succeed())
			lifted = true
		}
	}
	DeferCleanup(func(ctx SpecContext) { lift(ctx) })
	return lift
}

// refuseStatusWrites refuses every write of the controller to the status of
// the namespace's policies.
func refuseStatusWrites(ctx SpecContext, ns string) (lift func(context.Context)) {
	return refuseWrites(ctx, ns, refusal{
		name: "e2e-refuse-status", operations: []admissionv1.OperationType{admissionv1.Update},
		resources: []string{"storageautoscalepolicies/status"},
		who:       "request.userInfo.username == '" + controllerAccount + "'",
		message:   "e2e #13: the status write is lost",
	})
}
