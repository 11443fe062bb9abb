package kubectlplugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
)

// Exit codes, for scripts. They are stated in the help text and in
// docs/kubectl-pgstorage.md.
const (
	// ExitOK: the command ran and nothing needs attention.
	ExitOK = 0
	// ExitError: the command failed (API server unreachable, no policy
	// for the cluster, no permission, ...).
	ExitError = 1
	// ExitUsage: the command line is wrong.
	ExitUsage = 2
	// ExitAttention: the command ran, and something needs a human (see
	// attention.go): a volume at its limit or without fresh figures, a
	// failed or stuck resize, growth held by WAL safety or by a storage
	// class that cannot expand, a policy that does nothing, a failed growth.
	ExitAttention = 3
)

const exitCodesHelp = `Exit codes:
  0  ok: nothing needs attention
  1  error: the command failed (API server, permissions, no policy for the cluster)
  2  usage: the command line is wrong
  3  attention: a volume is at its limit, has no fresh figures, or is blocked by a
     failed resize, a storage class that cannot expand or WAL safety; a policy does
     nothing (conflict, cluster not found); the last growth of a volume failed`

// Options are what a caller (the binary, a test) gives Run besides the
// command line.
type Options struct {
	// Now is the clock; nil is the wall clock.
	Now func() time.Time
}

// usageError is a mistake on the command line: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// errAttention: the command printed its result, and it needs attention.
var errAttention = errors.New("needs attention")

// Run runs kubectl pgstorage with args (without the program name) and
// returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, options Options) int {
	if options.Now == nil {
		options.Now = time.Now
	}
	// The only thing the controller's code logs on this path is a growth
	// record it could not read and ignores: worth a warning.
	ctx = logf.IntoContext(ctx, funcr.New(func(_, args string) {
		fmt.Fprintln(stderr, "warning:", args)
	}, funcr.Options{}))
	root := newRootCommand(&globals{
		config: genericclioptions.NewConfigFlags(true),
		stdout: stdout, stderr: stderr, now: options.Now,
	})
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var usage usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errAttention):
		return ExitAttention
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "error: %v\nSee 'kubectl pgstorage --help'.\n", err)
		return ExitUsage
	}
	fmt.Fprintln(stderr, "error:", err)
	return ExitError
}

// globals are the flags and streams every subcommand shares.
type globals struct {
	config        *genericclioptions.ConfigFlags
	allNamespaces bool
	output        string
	resizeTimeout time.Duration
	stdout        io.Writer
	stderr        io.Writer
	now           func() time.Time
}

func newRootCommand(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use: "pgstorage",
		// kubectl runs the plugin as "kubectl pgstorage": help says so.
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl pgstorage"},
		Short:       "Inspect the volume autoscaling of CloudNativePG clusters (cnpg-storage-autoscaler)",
		Long: `kubectl pgstorage shows what cnpg-storage-autoscaler does with the volumes of
CloudNativePG clusters, and why.

  status    the policy status per volume: used, size, limit, state, reason, next growth
  history   the growths the controller made (the policy's status.history)
  explain   every gate of the planner for every PVC, from the live cluster
  simulate  what the planner would decide if a volume were that full

explain and simulate run the controller's own planner on the cluster's objects
as the controller reads them; none of the commands changes anything.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q: use status, history, explain or simulate", args[0])
			}
			return nil
		},
		// Bare "kubectl pgstorage" prints help, and is no error.
		RunE: func(command *cobra.Command, _ []string) error { return command.Help() },
	}
	// Shell completion of a kubectl plugin goes through kubectl's own.
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	flags := root.PersistentFlags()
	g.config.AddFlags(flags)
	flags.BoolVarP(&g.allNamespaces, "all-namespaces", "A", false, "status and history: the policies of every namespace")
	flags.StringVarP(&g.output, "output", "o", "", "output format: json or yaml (default: a table for humans)")
	flags.DurationVar(&g.resizeTimeout, "resize-timeout", policy.DefaultResizeTimeout,
		"explain and simulate: the controller's --resize-timeout (a growth in flight longer is stuck)")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		switch g.output {
		case "", "json", "yaml":
			return nil
		}
		return usagef("--output %q: use json or yaml, or leave it out for a table", g.output)
	}
	root.AddCommand(newStatusCommand(g), newHistoryCommand(g), newExplainCommand(g), newSimulateCommand(g))
	return root
}

// maxArgs is cobra.MaximumNArgs with a usage error.
func maxArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) > n {
			return usagef("too many arguments %q: expected at most %s", args, what)
		}
		return nil
	}
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("expected %s, got %d argument(s)", what, len(args))
		}
		return nil
	}
}
