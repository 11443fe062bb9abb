package kubectlplugin

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

func newHistoryCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "history [CLUSTER]",
		Short: "Show the growths the controller made, from the policy status",
		Long: `history prints the growths recorded in the policy status (the last 20 per
policy, oldest first): when, which role and PVCs, from and to which size, planned
or emergency, what triggered it, and how it ended (Succeeded, Failed with the
storage driver's words, or InProgress).

` + exitCodesHelp,
		Example: `  kubectl pgstorage history -n db orders
  kubectl pgstorage history -A -o yaml`,
		Args: maxArgs(1, "one cluster"),
		RunE: func(command *cobra.Command, args []string) error {
			return g.history(command.Context(), firstArg(args))
		},
	}
}

// policyHistory is one policy in history's -o json|yaml.
type policyHistory struct {
	Namespace      string                  `json:"namespace"`
	Cluster        string                  `json:"cluster"`
	Policy         string                  `json:"policy"`
	NeedsAttention bool                    `json:"needsAttention"`
	History        []v1alpha1.GrowthRecord `json:"history"`
}

func (g *globals) history(ctx context.Context, cluster string) error {
	s, err := g.connect()
	if err != nil {
		return err
	}
	policies, err := s.policies(ctx, cluster, g.allNamespaces)
	if err != nil {
		return err
	}
	out := make([]policyHistory, 0, len(policies))
	attention := false
	for _, p := range policies {
		entry := policyHistory{
			Namespace: p.Namespace, Cluster: p.Spec.ClusterRef.Name, Policy: p.Name,
			NeedsAttention: historyNeedsAttention(p.Status.History), History: p.Status.History,
		}
		if entry.History == nil {
			entry.History = []v1alpha1.GrowthRecord{}
		}
		attention = attention || entry.NeedsAttention
		out = append(out, entry)
	}
	return g.listed(s, out, len(out), func() error { return g.printHistory(out) }, attention)
}

func (g *globals) printHistory(policies []policyHistory) error {
	headers := []string{"CLUSTER", "TIME", "AGE", "ROLE", "KIND", "FROM", "TO", "OUTCOME", "PVCS", "TRIGGER"}
	if g.allNamespaces {
		headers = append([]string{"NAMESPACE"}, headers...)
	}
	t := newTable(g.stdout, headers...)
	now := g.now()
	rows := 0
	for _, p := range policies {
		for _, record := range p.History {
			trigger := record.Trigger
			if record.Retry {
				trigger = "smaller retry after a refused growth: " + trigger
			}
			if record.Message != "" {
				trigger += "; " + record.Message
			}
			cells := []string{p.Cluster, formatTime(record.Time.Time), formatAge(record.Time.Time, now),
				roleLabel(record.Role, record.Tablespace), string(record.Kind),
				formatQuantity(&record.From), formatQuantity(&record.To), string(record.Outcome),
				strings.Join(record.PVCs, ","), orDash(trigger)}
			if g.allNamespaces {
				cells = append([]string{p.Namespace}, cells...)
			}
			t.row(cells...)
			rows++
		}
	}
	if rows == 0 {
		_, err := g.stdout.Write([]byte("no growth recorded\n"))
		return err
	}
	return t.flush()
}
