package kubectlplugin

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
)

func newExplainCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "explain CLUSTER",
		Short: "Show every gate of the planner for every PVC, from the live cluster",
		Long: `explain reads the cluster's policy, PVCs, instance pods, StorageObservations and
StorageClasses exactly as the controller does, runs the controller's own planner
on them now, and prints for every PVC what its figures ask for and the verdict of
every gate in the planner's order: pass, hold or n/a, with the planner's reason.
The gate the controller reports for the PVC is marked with an arrow (→); gates
after it say what would hold next once it lifts.

The planner is the controller's, not a copy: explain and the controller cannot
disagree about the same objects. They can differ only when the controller runs
with another --resize-timeout (set the same one here) or when the objects
change between the two reads.

` + exitCodesHelp,
		Example: `  kubectl pgstorage explain -n db orders
  kubectl pgstorage explain orders -o json | jq '.volumes[] | {pvc, gates}'`,
		Args: exactArgs(1, "one cluster: kubectl pgstorage explain CLUSTER"),
		RunE: func(command *cobra.Command, args []string) error {
			if g.allNamespaces {
				return usagef("explain reads one cluster: use -n NAMESPACE, not -A")
			}
			s, err := g.connect()
			if err != nil {
				return err
			}
			view, err := s.view(command.Context(), args[0], g.now(), g.resizeTimeout)
			if err != nil {
				return err
			}
			return g.report(newReport(view, view.Plan, nil))
		},
	}
}

// report is what explain and simulate print: the plan of one cluster with
// every gate of every PVC.
type report struct {
	Namespace string        `json:"namespace"`
	Cluster   string        `json:"cluster"`
	Policy    string        `json:"policy"`
	Mode      v1alpha1.Mode `json:"mode,omitempty"`
	// Time is the instant the plan is made for.
	Time time.Time `json:"time"`
	// Simulated are simulate's --used overrides; empty for explain.
	Simulated []override `json:"simulated,omitempty"`
	// Inactive says why the policy decides nothing (a conflict, no
	// cluster); the rest is then empty.
	Inactive string `json:"inactive,omitempty"`
	// State is status.state as the controller would write it for this plan.
	State string `json:"state,omitempty"`
	// Problems are the conditions that need a human, and the quota
	// refusals the controller remembers.
	Problems             []string                     `json:"problems,omitempty"`
	Primary              string                       `json:"primary,omitempty"`
	WALHealth            string                       `json:"walHealth,omitempty"`
	Window               string                       `json:"window,omitempty"`
	Budget               budgetReport                 `json:"budget"`
	RejectedObservations []policy.RejectedObservation `json:"rejectedObservations,omitempty"`
	// Decisions are the patches the controller makes; WouldGrow those a
	// DryRun policy would make.
	Decisions      []decisionReport         `json:"decisions"`
	WouldGrow      []decisionReport         `json:"wouldGrow,omitempty"`
	Pending        []v1alpha1.PendingGrowth `json:"pending,omitempty"`
	Volumes        []volumeReport           `json:"volumes"`
	NeedsAttention bool                     `json:"needsAttention"`
}

type budgetReport struct {
	MaxActionsPerDay int32 `json:"maxActionsPerDay"`
	PlannedUsed      int32 `json:"plannedUsed"`
	EmergencyUsed    int32 `json:"emergencyUsed"`
	PlannedLeft      int32 `json:"plannedLeft"`
	EmergencyLeft    int32 `json:"emergencyLeft"`
}

type decisionReport struct {
	PVC        string              `json:"pvc"`
	Instance   string              `json:"instance"`
	Role       v1alpha1.VolumeRole `json:"role"`
	Tablespace string              `json:"tablespace,omitempty"`
	From       resource.Quantity   `json:"from"`
	To         resource.Quantity   `json:"to"`
	Kind       v1alpha1.GrowthKind `json:"kind"`
	Trigger    string              `json:"trigger"`
	CatchUp    bool                `json:"catchUp,omitempty"`
}

// volumeReport is one PVC: its status row as the controller would write
// it now, and the planner's explanation.
type volumeReport struct {
	v1alpha1.VolumeStatus
	Observed bool                `json:"observed"`
	Limit    *resource.Quantity  `json:"limit,omitempty"`
	Trigger  string              `json:"trigger"`
	Wants    v1alpha1.GrowthKind `json:"wants,omitempty"`
	Target   *resource.Quantity  `json:"target,omitempty"`
	Gates    []gateReport        `json:"gates"`
	// NeedsAttention: see the exit codes.
	NeedsAttention bool `json:"needsAttention"`
}

type gateReport struct {
	Gate    plan.Gate    `json:"gate"`
	Verdict plan.Verdict `json:"verdict"`
	Reason  string       `json:"reason"`
	// Reported: the gate the controller reports for the PVC.
	Reported bool `json:"reported,omitempty"`
}

// newReport plans snapshot (the view's, or simulate's changed copy) with
// the controller's planner and explains it.
func newReport(view *policy.View, snapshot plan.Snapshot, overrides []override) report {
	p := view.Policy
	out := report{
		Namespace: p.Namespace, Cluster: p.Spec.ClusterRef.Name, Policy: p.Name, Mode: p.Spec.Mode,
		Time: snapshot.Now.UTC(), Simulated: overrides, RejectedObservations: view.RejectedObservations,
		Decisions: []decisionReport{}, Volumes: []volumeReport{},
	}
	switch {
	case view.ConflictWith != "":
		out.Inactive = fmt.Sprintf("policy %s is older and already manages cluster %s: policy %s does nothing; delete one of them",
			view.ConflictWith, out.Cluster, p.Name)
	case view.Cluster == nil:
		out.Inactive = fmt.Sprintf("CNPG Cluster %s not found in namespace %s: policy %s does nothing", out.Cluster, p.Namespace, p.Name)
	}
	if out.Inactive != "" {
		out.NeedsAttention = true
		return out
	}
	explanation := plan.Explain(snapshot)
	result := explanation.Result
	// The rows and conditions as the controller would write them for this
	// plan (a failed growth shows as failed, as in status).
	status := view.Status(snapshot, result)
	out.State = status.State
	for _, condition := range policyAttentionConditions {
		found := meta.FindStatusCondition(status.Conditions, condition)
		if found == nil || found.Status != metav1.ConditionTrue {
			continue
		}
		out.NeedsAttention = true
		// Rejected observations are listed one by one (RejectedObservations).
		if condition != v1alpha1.ConditionObservationsRejected {
			out.Problems = append(out.Problems, condition+": "+found.Message)
		}
	}
	for _, refusal := range p.Status.QuotaRefusals {
		out.Problems = append(out.Problems, fmt.Sprintf("ResourceQuota %s refused growing PVC %s at %s: %s",
			refusal.Quota, refusal.PVC, formatTime(refusal.Time.Time), refusal.Message))
	}
	out.Primary, out.WALHealth, out.Window = snapshot.Primary, explanation.WALHealth, explanation.Window
	out.Budget = budgetReport{
		MaxActionsPerDay: p.Spec.Budget.MaxActionsPerDay,
		PlannedUsed:      result.Budget.PlannedUsed, EmergencyUsed: result.Budget.EmergencyUsed,
		PlannedLeft: result.Budget.PlannedLeft, EmergencyLeft: result.Budget.EmergencyLeft,
	}
	for _, decision := range result.Decisions {
		out.Decisions = append(out.Decisions, decisionReportOf(decision))
	}
	for _, decision := range result.WouldGrow {
		out.WouldGrow = append(out.WouldGrow, decisionReportOf(decision))
	}
	out.Pending = result.Pending
	for index, explained := range explanation.Volumes {
		row := status.Volumes[index]
		volume := volumeReport{
			VolumeStatus: row, Observed: explained.Row.Observed, Trigger: explained.Trigger, Wants: explained.Wants,
			NeedsAttention: volumeNeedsAttention(row.State, row.Gate),
		}
		if _, rule := p.Spec.Volumes.RuleFor(row.Role, row.Tablespace); rule != nil {
			volume.Limit = rule.Limit
		}
		if !explained.Target.IsZero() {
			target := explained.Target
			volume.Target = &target
		}
		for _, verdict := range explained.Gates {
			volume.Gates = append(volume.Gates, gateReport{Gate: verdict.Gate, Verdict: verdict.Verdict, Reason: verdict.Reason, Reported: verdict.Reported})
		}
		out.NeedsAttention = out.NeedsAttention || volume.NeedsAttention
		out.Volumes = append(out.Volumes, volume)
	}
	return out
}

func decisionReportOf(d plan.Decision) decisionReport {
	return decisionReport{
		PVC: d.PVC, Instance: d.Instance, Role: d.Role, Tablespace: d.Tablespace,
		From: d.From, To: d.To, Kind: d.Kind, Trigger: d.Trigger, CatchUp: d.CatchUp,
	}
}

// report prints r and turns its verdict into the exit code.
func (g *globals) report(r report) error {
	var err error
	if g.output != "" {
		err = printStructured(g.stdout, g.output, r)
	} else {
		err = printReport(g.stdout, r)
	}
	if err == nil && r.NeedsAttention {
		return errAttention
	}
	return err
}

func printReport(out io.Writer, r report) error {
	mode := r.Mode
	if mode == "" {
		mode = v1alpha1.ModeEnforce
	}
	fmt.Fprintf(out, "Cluster %s/%s, policy %s (%s), planned for %s\n", r.Namespace, r.Cluster, r.Policy, mode, formatTime(r.Time))
	if len(r.Simulated) > 0 {
		parts := make([]string, 0, len(r.Simulated))
		for _, o := range r.Simulated {
			parts = append(parts, fmt.Sprintf("%s=%s (%s)", o.Target, o.Used, strings.Join(o.PVCs, ", ")))
		}
		fmt.Fprintf(out, "Simulated: %s, as if just measured; nothing in the cluster is changed\n", strings.Join(parts, "; "))
	}
	if r.Inactive != "" {
		fmt.Fprintln(out, r.Inactive)
		return nil
	}
	header := newTable(out, "  primary", orDash(r.Primary))
	header.row("  WAL health", r.WALHealth)
	header.row("  window", r.Window)
	header.row("  budget", fmt.Sprintf("planned %d used, %d left; emergency %d used, %d left; maxActionsPerDay %d (rolling 24h)",
		r.Budget.PlannedUsed, r.Budget.PlannedLeft, r.Budget.EmergencyUsed, r.Budget.EmergencyLeft, r.Budget.MaxActionsPerDay))
	header.row("  state", orDash(r.State))
	for _, problem := range r.Problems {
		header.row("  problem", problem)
	}
	for _, rejected := range r.RejectedObservations {
		header.row("  ignored", rejected.Message)
	}
	if err := header.flush(); err != nil {
		return err
	}
	printDecisions(out, "Decisions", r.Decisions, r.Mode != v1alpha1.ModeDryRun || len(r.WouldGrow) == 0)
	if r.Mode == v1alpha1.ModeDryRun {
		printDecisions(out, "Would grow (DryRun)", r.WouldGrow, true)
	}
	for _, volume := range r.Volumes {
		if err := printVolume(out, volume); err != nil {
			return err
		}
	}
	return nil
}

func printDecisions(out io.Writer, title string, decisions []decisionReport, evenWhenNone bool) {
	if len(decisions) == 0 {
		if evenWhenNone {
			fmt.Fprintf(out, "\n%s: none\n", title)
		}
		return
	}
	fmt.Fprintf(out, "\n%s:\n", title)
	t := newTable(out, "  PVC", "ROLE", "FROM", "TO", "KIND", "TRIGGER")
	for _, d := range decisions {
		kind := string(d.Kind)
		if d.CatchUp {
			kind += " catch-up"
		}
		t.row("  "+d.PVC, roleLabel(d.Role, d.Tablespace), formatQuantity(&d.From), formatQuantity(&d.To), kind, d.Trigger)
	}
	_ = t.flush()
}

func printVolume(out io.Writer, volume volumeReport) error {
	who := fmt.Sprintf("%s, instance %s", roleLabel(volume.Role, volume.Tablespace), volume.Instance)
	if volume.Primary {
		who += ", primary"
	}
	fmt.Fprintf(out, "\n%s (%s)\n", volume.PVC, who)
	figures := "no fresh figures"
	if volume.Observed {
		figures = fmt.Sprintf("used %s of %s (%s%%)", plan.FormatBytes(volume.UsedBytes),
			plan.FormatBytes(volume.UsedBytes+volume.FreeBytes), plan.FormatPercent(volume.UsedPercent))
	}
	figures += fmt.Sprintf("; request %s, capacity %s, limit %s",
		formatQuantity(volume.Requested), formatQuantity(volume.Capacity), formatQuantity(volume.Limit))
	trigger := volume.Trigger
	if volume.Wants != "" {
		trigger += fmt.Sprintf(" (wants %s growth to %s)", volume.Wants, formatQuantity(volume.Target))
	}
	facts := newTable(out, "  figures", figures)
	facts.row("  trigger", trigger)
	if err := facts.flush(); err != nil {
		return err
	}
	gates := newTable(out, "    GATE", "VERDICT", "REASON")
	for _, verdict := range volume.Gates {
		marker := "    "
		if verdict.Reported {
			marker = "  → "
		}
		gates.row(marker+string(verdict.Gate), string(verdict.Verdict), verdict.Reason)
	}
	if err := gates.flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out, "  state: %s: %s\n", volume.State, orDash(volume.Reason))
	return err
}
