//go:build e2e

package suite

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/sandbox"
)

// target is what differs between the sandbox and a real cluster; every spec
// reads it and nothing else from the environment.
type target struct {
	name          string // sandbox | cluster
	storageClass  string
	postgresImage string
	timeoutScale  float64
	prometheusURL string // a Prometheus scraping the add-on; "" when the target has none
}

var (
	kube *framework.Cluster
	env  target
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "cnpg-storage-autoscaler E2E")
}

var _ = BeforeSuite(func() {
	env = target{
		name:          getenv("E2E_TARGET", "sandbox"),
		storageClass:  getenv("E2E_STORAGE_CLASS", "sandbox-online"),
		postgresImage: os.Getenv("E2E_POSTGRES_IMAGE"),
		timeoutScale:  1,
		prometheusURL: os.Getenv("E2E_PROMETHEUS_URL"),
	}
	if env.prometheusURL == "" && env.name == "sandbox" {
		env.prometheusURL = sandbox.PrometheusURL()
	}
	if s := os.Getenv("E2E_TIMEOUT_SCALE"); s != "" {
		scale, err := strconv.ParseFloat(s, 64)
		Expect(err).NotTo(HaveOccurred(), "E2E_TIMEOUT_SCALE=%q", s)
		env.timeoutScale = scale
	}
	kubeconfig := os.Getenv("KUBECONFIG")
	Expect(kubeconfig).NotTo(BeEmpty(), "KUBECONFIG must name the target cluster (e2e/run.sh sets it)")
	var err error
	kube, err = framework.Connect(kubeconfig)
	Expect(err).NotTo(HaveOccurred())
})

func getenv(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// timeout scales a duration for slow targets (Azure Disk attach: minutes).
func timeout(d time.Duration) time.Duration {
	return time.Duration(float64(d) * env.timeoutScale)
}

// newNamespace makes a namespace for one spec (or one ordered container) and
// dumps its state when the spec failed.
func newNamespace(ctx context.Context) string {
	ns, err := kube.CreateNamespace(ctx, "autoscaler-e2e")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) {
		if CurrentSpecReport().Failed() {
			dumpNamespace(ctx, ns)
		}
		_ = kube.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	})
	return ns
}

// dumpNamespace prints what an on-call engineer would look at: the policy
// status, observations, PVC states, the CNPG Cluster's status and events.
func dumpNamespace(ctx context.Context, ns string) {
	w := GinkgoWriter
	fmt.Fprintf(w, "\n===== state of namespace %s =====\n", ns)
	policies := &v1alpha1.StorageAutoscalePolicyList{}
	if kube.Client.List(ctx, policies, client.InNamespace(ns)) == nil {
		for _, p := range policies.Items {
			fmt.Fprintf(w, "policy %s: state %q conditions %+v\n  volumes %+v\n  pending %+v\n  history %+v\n",
				p.Name, p.Status.State, p.Status.Conditions, p.Status.Volumes, p.Status.Pending, p.Status.History)
		}
	}
	observations := &v1alpha1.StorageObservationList{}
	if kube.Client.List(ctx, observations, client.InNamespace(ns)) == nil {
		for _, o := range observations.Items {
			fmt.Fprintf(w, "observation %s: %+v\n", o.Name, o.Status)
		}
	}
	pvcs := &corev1.PersistentVolumeClaimList{}
	if kube.Client.List(ctx, pvcs, client.InNamespace(ns)) == nil {
		for _, p := range pvcs.Items {
			fmt.Fprintf(w, "PVC %s: request %s capacity %s conditions %+v statuses %v\n", p.Name,
				p.Spec.Resources.Requests.Storage(), p.Status.Capacity.Storage(), p.Status.Conditions, p.Status.AllocatedResourceStatuses)
		}
	}
	clusters := &cnpgClusterList{}
	if kube.Client.List(ctx, clusters, client.InNamespace(ns)) == nil {
		for _, c := range clusters.Items {
			fmt.Fprintf(w, "CNPG Cluster %s: phase %q ready %d/%d primary %s\n", c.Name, c.Status.Phase,
				c.Status.ReadyInstances, c.Spec.Instances, c.Status.CurrentPrimary)
			if c.Status.PhaseReason != "" {
				fmt.Fprintf(w, "  phase reason: %s\n", c.Status.PhaseReason)
			}
			for _, condition := range c.Status.Conditions {
				fmt.Fprintf(w, "  condition %s=%s %s: %s\n", condition.Type, condition.Status, condition.Reason, condition.Message)
			}
		}
	}
	events := &corev1.EventList{}
	if kube.Client.List(ctx, events, client.InNamespace(ns)) == nil {
		// The most recent ones, oldest first.
		const recent = 40
		items := events.Items
		sort.SliceStable(items, func(i, j int) bool { return eventTime(items[i]).Before(eventTime(items[j])) })
		if len(items) > recent {
			fmt.Fprintf(w, "(%d older events not shown)\n", len(items)-recent)
			items = items[len(items)-recent:]
		}
		for _, e := range items {
			fmt.Fprintf(w, "event %s %s %s/%s %s: %s\n", eventTime(e).UTC().Format(time.TimeOnly), e.Type,
				e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
}

// eventTime is when an Event last happened, whichever API wrote it.
func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}
