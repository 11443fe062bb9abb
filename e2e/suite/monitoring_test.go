//go:build e2e

package suite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
)

// #26 (issue #20): what the on-call engineer looks at reads series that
// exist. A real Prometheus finds the controller and the probes through
// Kubernetes service discovery (on the sandbox: the one `sandbox up`
// runs) and evaluates the shipped alert rules; every metric, label matcher
// and grouping label of every dashboard panel, dashboard variable, alert and
// recording rule must have had series while a volume of this spec's cluster
// grew and a forged observation was ignored. A panel silently empty because
// of a metric or label name fails here.
var _ = Describe("monitoring", Ordered, Label("gate4"), func() {
	It("#26 every dashboard panel and alert finds its series in a real Prometheus while a volume grows", func(ctx SpecContext) {
		if env.prometheusURL == "" {
			Skip("needs a Prometheus scraping the add-on: set E2E_PROMETHEUS_URL (the sandbox runs its own)")
		}
		began := time.Now()
		pg, primary := managedCluster(ctx, framework.ClusterSpec{Name: "metrics"}, func(s *v1alpha1.StorageAutoscalePolicySpec) {
			quick(&s.Volumes.Data)
		})
		ns := pg.Namespace

		// A privileged user (admission does not stop one) writes an
		// observation for an instance that does not exist, saying the
		// primary's data volume is 99 % full: the controller ignores it,
		// says so, and counts it.
		forged := &v1alpha1.StorageObservation{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pg.Name + "-9"},
			Spec:       v1alpha1.StorageObservationSpec{Cluster: pg.Name, Instance: pg.Name + "-9", PodUID: "00000000-0000-0000-0000-000000000009"},
		}
		Expect(kube.Client.Create(ctx, forged)).To(Succeed())
		now := metav1.NowMicro()
		gib := int64(1) << 30
		forged.Status = v1alpha1.StorageObservationStatus{
			ObservedAt: &now, Role: v1alpha1.InstancePrimary,
			Volumes: []v1alpha1.ObservedVolume{{
				Name: "data", Role: v1alpha1.RoleData, PVC: primary, MountPath: "/var/lib/postgresql/data",
				CapacityBytes: gib, UsedBytes: gib * 99 / 100, AvailableBytes: gib / 100,
			}},
		}
		Expect(kube.Client.Status().Update(ctx, forged)).To(Succeed())
		Eventually(func(g Gomega) {
			rejected := condition(ctx, g, ns, pg.Name, v1alpha1.ConditionObservationsRejected)
			g.Expect(rejected.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(rejected.Message).To(ContainSubstring(forged.Name))
			GinkgoWriter.Printf("ObservationsRejected: %s\n", rejected.Message)
		}).WithContext(ctx).WithTimeout(timeout(time.Minute)).WithPolling(2 * time.Second).Should(Succeed())

		// The real fill grows the volume one step, as planned: the forged
		// 99 % made no emergency.
		fill(ctx, ns, primary, "data", 62, 16, false)
		expectGrown(ctx, ns, primary, "data", primary, "2Gi", 3*time.Minute)
		Expect(policy(ctx, Default, ns, pg.Name).Status.History).NotTo(ContainElement(HaveField("Kind", v1alpha1.GrowthEmergency)))

		expressions, err := framework.DashboardExpressions(filepath.Join("..", "..", "deploy", "grafana", "cnpg-storage-autoscaler.json"))
		Expect(err).NotTo(HaveOccurred())
		rules, err := framework.RuleExpressions(filepath.Join("..", "..", "deploy", "prometheus", "rules.yaml"))
		Expect(err).NotTo(HaveOccurred())
		expressions = append(expressions, rules...)
		variables := map[string]string{"$namespace": ns, "$cluster": pg.Name}
		Eventually(func(g Gomega) {
			window := time.Since(began) + time.Minute
			missing := missingSeries(ctx, env.prometheusURL, expressions, variables, window)
			g.Expect(missing).To(BeEmpty(), "what the dashboard and the alerts read but Prometheus has not had in the last %s:\n%s",
				window.Round(time.Second), strings.Join(missing, "\n"))
		}).WithContext(ctx).WithTimeout(timeout(2 * time.Minute)).WithPolling(10 * time.Second).Should(Succeed())
		// The check sees a wrong name: a misspelt label and metric are
		// reported, not passed over.
		misspelt := []framework.Expression{
			{Source: "a misspelt label", Query: `pgstorage_volume_state{namespace="` + ns + `", stat="Idle"}`},
			{Source: "a misspelt metric", Query: `sum by (namespace) (pgstorage_volume_use_bytes)`},
		}
		Expect(missingSeries(ctx, env.prometheusURL, misspelt, variables, time.Since(began))).To(HaveLen(3))
		for _, e := range expressions {
			series, err := framework.PrometheusSeries(ctx, env.prometheusURL, substitute(e.Query, variables, time.Since(began)))
			GinkgoWriter.Printf("%s: %d series now (%v)\n", e.Source, series, err)
		}
	})
})

// scopeLabels are the labels whose values the dashboard's variables choose:
// a selector restricted to them must find this spec's own series.
var scopeLabels = []string{"namespace", "cluster", "pod"}

// optionalLabels are grouping labels only some series carry: tablespace
// volumes' (this spec's cluster has none).
var optionalLabels = []string{"tablespace"}

// missingSeries lists what the expressions read that Prometheus has had no
// series of within the window: each selector's metric (restricted to the
// spec's namespace and cluster where the dashboard restricts it), each
// label a matcher names, each label a clause groups or matches by; and any
// expression Prometheus refuses.
func missingSeries(ctx context.Context, prometheus string, expressions []framework.Expression, variables map[string]string, window time.Duration) []string {
	var missing []string
	seen := map[string]bool{}
	ask := func(source, what, query string) {
		if seen[query] {
			return
		}
		seen[query] = true
		switch series, err := framework.PrometheusSeries(ctx, prometheus, query); {
		case err != nil:
			missing = append(missing, fmt.Sprintf("%s: %s: %v", source, what, err))
		case series == 0:
			missing = append(missing, fmt.Sprintf("%s: %s (%s)", source, what, query))
		}
	}
	last := func(selector string) string {
		return fmt.Sprintf("count(last_over_time(%s[%ds]))", selector, int(window.Seconds()))
	}
	for _, e := range expressions {
		query := substitute(e.Query, variables, window)
		if _, err := framework.PrometheusSeries(ctx, prometheus, query); err != nil {
			missing = append(missing, fmt.Sprintf("%s: does not evaluate: %v", e.Source, err))
			continue
		}
		parts, err := framework.PartsOf(query, "pgstorage")
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s: %v", e.Source, err))
			continue
		}
		var names []string
		for _, s := range parts.Selectors {
			names = append(names, s.Metric)
			var scope []string
			for _, m := range s.Matchers {
				if slices.Contains(scopeLabels, m.Label) {
					scope = append(scope, m.String())
					continue
				}
				ask(e.Source, fmt.Sprintf("no series of %s with label %s", s.Metric, m.Label), last(fmt.Sprintf("%s{%s!=\"\"}", s.Metric, m.Label)))
			}
			ask(e.Source, fmt.Sprintf("no series of %s{%s}", s.Metric, strings.Join(scope, ", ")), last(fmt.Sprintf("%s{%s}", s.Metric, strings.Join(scope, ", "))))
		}
		for _, label := range parts.Grouping {
			if slices.Contains(optionalLabels, label) {
				continue
			}
			ask(e.Source, fmt.Sprintf("no series of %s with label %s (a by/on clause)", strings.Join(names, " or "), label),
				last(fmt.Sprintf("{__name__=~%q, %s!=\"\"}", strings.Join(names, "|"), label)))
		}
	}
	return missing
}

// substitute fills in the dashboard's variables as Grafana would for this
// spec's cluster over the given range.
func substitute(query string, variables map[string]string, over time.Duration) string {
	seconds := fmt.Sprintf("%ds", int(max(over, time.Minute).Seconds()))
	replacements := []string{"$__rate_interval", "1m", "$__interval", "1m", "$__range", seconds}
	for name, value := range variables {
		replacements = append(replacements, name, value)
	}
	return strings.NewReplacer(replacements...).Replace(query)
}
