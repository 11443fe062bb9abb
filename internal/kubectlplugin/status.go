package kubectlplugin

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

func newStatusCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status [CLUSTER]",
		Short: "Show each volume's use, size, limit, state, reason and next growth, from the policy status",
		Long: `status prints, for every PVC of the clusters that have a StorageAutoscalePolicy
(one cluster, the namespace's, or with -A every namespace's), what the controller
last reported in the policy status: used space, size (capacity, and the request
a growth is heading for), the policy's limit, the state, when the next growth can
happen, and the reason in words.

` + exitCodesHelp,
		Example: `  kubectl pgstorage status -n db orders
  kubectl pgstorage status -A -o json`,
		Args: maxArgs(1, "one cluster"),
		RunE: func(command *cobra.Command, args []string) error {
			return g.status(command.Context(), firstArg(args))
		},
	}
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// policyStatus is one policy in status's -o json|yaml.
type policyStatus struct {
	Namespace      string                   `json:"namespace"`
	Cluster        string                   `json:"cluster"`
	Policy         string                   `json:"policy"`
	Mode           v1alpha1.Mode            `json:"mode,omitempty"`
	State          string                   `json:"state,omitempty"`
	NeedsAttention bool                     `json:"needsAttention"`
	Problems       []string                 `json:"problems,omitempty"`
	Volumes        []volumeStatus           `json:"volumes"`
	Pending        []v1alpha1.PendingGrowth `json:"pending,omitempty"`
	Budget         v1alpha1.BudgetStatus    `json:"budget"`
}

// volumeStatus is one row of status.volumes with the policy's limit for
// it and when it can grow next.
type volumeStatus struct {
	v1alpha1.VolumeStatus
	Limit          *resource.Quantity `json:"limit,omitempty"`
	NextGrowth     string             `json:"nextGrowth"`
	NeedsAttention bool               `json:"needsAttention"`
}

func (g *globals) status(ctx context.Context, cluster string) error {
	s, err := g.connect()
	if err != nil {
		return err
	}
	policies, err := s.policies(ctx, cluster, g.allNamespaces)
	if err != nil {
		return err
	}
	out := make([]policyStatus, 0, len(policies))
	attention := false
	for index := range policies {
		entry := statusOf(&policies[index])
		attention = attention || entry.NeedsAttention
		out = append(out, entry)
	}
	return g.listed(s, out, len(out), func() error { return g.printStatus(out) }, attention)
}

func statusOf(p *v1alpha1.StorageAutoscalePolicy) policyStatus {
	entry := policyStatus{
		Namespace: p.Namespace, Cluster: p.Spec.ClusterRef.Name, Policy: p.Name, Mode: p.Spec.Mode,
		State: p.Status.State, NeedsAttention: policyNeedsAttention(p),
		Volumes: []volumeStatus{}, Pending: p.Status.Pending, Budget: p.Status.Budget,
	}
	for _, condition := range policyAttentionConditions {
		if found := meta.FindStatusCondition(p.Status.Conditions, condition); found != nil && found.Status == "True" {
			entry.Problems = append(entry.Problems, condition+": "+found.Message)
		}
	}
	if ready := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady); ready != nil && ready.Status != "True" &&
		len(p.Status.Volumes) == 0 && len(entry.Problems) == 0 {
		entry.Problems = append(entry.Problems, "Ready: "+ready.Message)
	}
	for _, volume := range p.Status.Volumes {
		row := volumeStatus{VolumeStatus: volume, NextGrowth: nextGrowth(p, volume), NeedsAttention: volumeNeedsAttention(volume.State, volume.Gate)}
		if _, rule := p.Spec.Volumes.RuleFor(volume.Role, volume.Tablespace); rule != nil {
			row.Limit = rule.Limit
		}
		entry.Volumes = append(entry.Volumes, row)
	}
	return entry
}

// nextGrowth says, from the status alone, when the PVC can grow next: a
// time where status holds one (a queued growth's window), else the event
// that must happen first. The reason holds the planner's exact times.
func nextGrowth(p *v1alpha1.StorageAutoscalePolicy, volume v1alpha1.VolumeStatus) string {
	_, rule := p.Spec.Volumes.RuleFor(volume.Role, volume.Tablespace)
	switch gate := plan.Gate(volume.Gate); {
	case gate == plan.GateNoRule || rule == nil:
		return "never: no rule"
	case volume.State == v1alpha1.VolumeAtLimit:
		return "never: at limit"
	case volume.State == v1alpha1.VolumeGrowing:
		return "in progress"
	case volume.State == v1alpha1.VolumeQueued:
		for _, pending := range p.Status.Pending {
			if pending.Role == volume.Role && pending.Tablespace == volume.Tablespace &&
				(pending.Instance == "" || pending.Instance == volume.Instance) && pending.NotBefore != nil {
				return "window at " + formatTime(pending.NotBefore.Time)
			}
		}
		return "when a window opens"
	case gate == plan.GateDryRun:
		return "never: DryRun"
	case gate == plan.GateStorageClass:
		return "never: class cannot expand"
	case gate != "":
		if lifts, known := gateLifts[gate]; known {
			return "when " + lifts
		}
		// The controller's own holds (a refused or failed resize, a quota).
		return "when " + string(gate) + " is fixed"
	case rule.Limit != nil && volume.Requested != nil && volume.Requested.Cmp(*rule.Limit) >= 0:
		return "never: at limit"
	case rule.Trigger.UsedPercent > 0:
		return fmt.Sprintf("at %d%% used", rule.Trigger.UsedPercent)
	}
	return "when a trigger fires"
}

// gateLifts says what lifts each gate that lifts at all.
var gateLifts = map[plan.Gate]string{
	plan.GateObservation: "observed again",
	plan.GateInFlight:    "the resize ends",
	plan.GateCooldown:    "the cooldown ends",
	plan.GateWALSafety:   "WAL is healthy",
	plan.GateWindow:      "a window opens",
	plan.GateBudget:      "budget frees up",
}

func (g *globals) printStatus(policies []policyStatus) error {
	headers := []string{"CLUSTER", "PVC", "ROLE", "USED", "SIZE", "LIMIT", "STATE", "NEXT GROWTH", "REASON"}
	if g.allNamespaces {
		headers = append([]string{"NAMESPACE"}, headers...)
	}
	t := newTable(g.stdout, headers...)
	for _, p := range policies {
		cells := func(cells ...string) {
			if g.allNamespaces {
				cells = append([]string{p.Namespace}, cells...)
			}
			t.row(cells...)
		}
		if len(p.Volumes) == 0 {
			cells(p.Cluster, "-", "-", "-", "-", "-", orDash(p.State), "-", "policy "+p.Policy+": no volume reported yet")
		}
		for _, volume := range p.Volumes {
			observed := volume.UsedBytes > 0 || volume.FreeBytes > 0
			cells(p.Cluster, volume.PVC, roleLabel(volume.Role, volume.Tablespace),
				formatUsed(observed, volume.UsedBytes, volume.UsedPercent), formatSize(volume.Capacity, volume.Requested),
				formatQuantity(volume.Limit), orDash(string(volume.State)), volume.NextGrowth, orDash(volume.Reason))
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, p := range policies {
		for _, problem := range p.Problems {
			fmt.Fprintf(g.stdout, "%s/%s: %s\n", p.Namespace, p.Cluster, problem)
		}
	}
	return nil
}

// roleLabel is "data", "wal" or "tablespace:NAME".
func roleLabel(role v1alpha1.VolumeRole, tablespace string) string {
	if role == v1alpha1.RoleTablespace {
		return "tablespace:" + tablespace
	}
	return string(role)
}
