package kubectlplugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/kubectlplugin"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with what the commands print now")

var (
	env        *testenv.Env
	kubeconfig string
)

func TestMain(m *testing.M) {
	flag.Parse()
	ctrl.SetLogger(logr.Discard())
	dir, err := os.MkdirTemp("", "kubectl-pgstorage-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := testenv.Main(m, &env, func() error {
		// The kubeconfig's context names namespace default: the tests pass
		// -n as users do.
		if kubeconfig, err = writeKubeconfig(dir, env.Config, "default"); err != nil {
			return err
		}
		return buildWorld(context.Background(), env.Client)
	})
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// run runs kubectl pgstorage in-process at testNow against the test API
// server, through a kubeconfig file as a user would.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = kubectlplugin.Run(context.Background(), append([]string{"--kubeconfig", kubeconfig}, args...), &out, &errOut,
		kubectlplugin.Options{Now: func() time.Time { return testNow }})
	return out.String(), errOut.String(), code
}

// checkGolden compares output with testdata/name; -update rewrites it.
func checkGolden(t *testing.T, name, output string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := writeFile(path, []byte(output)); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if string(want) != output {
		t.Errorf("output differs from %s (run with -update if the change is meant):\n--- got\n%s\n--- want\n%s", path, output, want)
	}
}

func TestCommandsPrintWhatTheGoldenFilesHold(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		golden string
		code   int
	}{
		{"status of a healthy cluster", []string{"status", "-n", "db", "orders"}, "status-orders.golden", kubectlplugin.ExitOK},
		{"status of a namespace with a refused growth needs attention", []string{"status", "-n", "db"}, "status-db.golden", kubectlplugin.ExitAttention},
		{"status as JSON", []string{"status", "-n", "db", "-o", "json"}, "status-db.json.golden", kubectlplugin.ExitAttention},
		{"history of a cluster", []string{"history", "-n", "db", "orders"}, "history-orders.golden", kubectlplugin.ExitOK},
		{"history whose last growth failed needs attention", []string{"history", "-n", "db", "billing"}, "history-billing.golden", kubectlplugin.ExitAttention},
		{"history as YAML", []string{"history", "-n", "db", "-o", "yaml"}, "history-db.yaml.golden", kubectlplugin.ExitAttention},
		{"explain a planned growth", []string{"explain", "-n", "db", "orders"}, "explain-orders.golden", kubectlplugin.ExitOK},
		{"explain a refused growth", []string{"explain", "-n", "db", "billing"}, "explain-billing.golden", kubectlplugin.ExitAttention},
		{"explain as JSON", []string{"explain", "-n", "db", "orders", "-o", "json"}, "explain-orders.json.golden", kubectlplugin.ExitOK},
		{"simulate a WAL volume about to fill", []string{"simulate", "-n", "db", "orders", "--used", "wal=97%"}, "simulate-wal.golden", kubectlplugin.ExitOK},
		{"simulate a quiet cluster later", []string{"simulate", "-n", "db", "orders", "--used", "data=50%", "--used", "orders-2-wal=1Gi", "--at", "+2h"},
			"simulate-later.golden", kubectlplugin.ExitOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := run(t, c.args...)
			if code != c.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, c.code, stderr)
			}
			if stderr != "" {
				t.Errorf("stderr: %s", stderr)
			}
			checkGolden(t, c.golden, stdout)
		})
	}
}

// -A lists every namespace's policies, whatever other tests created: no
// golden, only what must be there.
func TestStatusOfEveryNamespaceNamesTheNamespace(t *testing.T) {
	stdout, stderr, code := run(t, "status", "-A")
	if code != kubectlplugin.ExitAttention {
		t.Errorf("exit code %d, want %d (billing's resize failed); stderr: %s", code, kubectlplugin.ExitAttention, stderr)
	}
	rows := map[string]bool{}
	for _, line := range strings.Split(stdout, "\n") {
		if fields := strings.Fields(line); len(fields) >= 3 {
			rows[strings.Join(fields[:3], " ")] = true
		}
	}
	for _, want := range []string{"NAMESPACE CLUSTER PVC", "db billing billing-1", "db orders orders-1"} {
		if !rows[want] {
			t.Errorf("status -A has no row starting %q:\n%s", want, stdout)
		}
	}
}

func TestExitCodesTellScriptsWhatHappened(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"bare command prints help", nil, kubectlplugin.ExitOK, ""},
		{"unknown command", []string{"grow"}, kubectlplugin.ExitUsage, `unknown command "grow"`},
		{"unknown flag", []string{"status", "--bogus"}, kubectlplugin.ExitUsage, "unknown flag: --bogus"},
		{"explain needs a cluster", []string{"explain", "-n", "db"}, kubectlplugin.ExitUsage, "expected one cluster"},
		{"explain reads one namespace", []string{"explain", "-A", "orders"}, kubectlplugin.ExitUsage, "not -A"},
		{"simulate needs --used", []string{"simulate", "-n", "db", "orders"}, kubectlplugin.ExitUsage, "at least one --used"},
		{"a --used that is no size", []string{"simulate", "-n", "db", "orders", "--used", "data=lots"}, kubectlplugin.ExitUsage, "neither a percentage"},
		{"a --used naming no volume", []string{"simulate", "-n", "db", "orders", "--used", "archive=50%"}, kubectlplugin.ExitUsage, "no PVC of the cluster is archive"},
		{"a bad --at", []string{"simulate", "-n", "db", "orders", "--used", "data=50%", "--at", "tomorrow"}, kubectlplugin.ExitUsage, "RFC 3339"},
		{"an unknown output format", []string{"status", "-o", "xml"}, kubectlplugin.ExitUsage, `--output "xml"`},
		{"a cluster without policy", []string{"explain", "-n", "db", "ledger"}, kubectlplugin.ExitError, "no StorageAutoscalePolicy manages cluster ledger in namespace db"},
		{"the kubeconfig's namespace has no policy", []string{"status", "orders"}, kubectlplugin.ExitError, "in namespace default"},
		{"a namespace without policies is no error", []string{"history"}, kubectlplugin.ExitOK, "No StorageAutoscalePolicy found in namespace default."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := run(t, c.args...)
			if code != c.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, c.code, stderr)
			}
			if !strings.Contains(stderr, c.stderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr, c.stderr)
			}
		})
	}
}

// explain must show what the planner decides on the objects the controller
// reads: the same decisions and the same rows as plan.Plan on the
// snapshot the controller builds, never an answer of its own.
func TestExplainShowsWhatThePlannerDecides(t *testing.T) {
	for _, cluster := range []string{"orders", "billing"} {
		t.Run(cluster, func(t *testing.T) {
			stdout, stderr, _ := run(t, "explain", "-n", "db", cluster, "-o", "json")
			var explained struct {
				Decisions []struct{ PVC, To, Kind string }
				Volumes   []struct {
					PVC, State, Gate, Reason string
					Gates                    []struct {
						Gate, Verdict, Reason string
						Reported              bool
					}
				}
			}
			if err := json.Unmarshal([]byte(stdout), &explained); err != nil {
				t.Fatalf("explain -o json: %v\n%s%s", err, stdout, stderr)
			}

			policies := listPolicies(t, cluster)
			view, err := policy.Snapshot(context.Background(), env.Client, &policies[0], testNow, policy.SnapshotOptions{ResizeTimeout: policy.DefaultResizeTimeout})
			if err != nil {
				t.Fatal(err)
			}
			planned := plan.Plan(view.Plan)
			if len(explained.Decisions) != len(planned.Decisions) {
				t.Fatalf("explain shows %d decisions, the planner makes %d: %+v", len(explained.Decisions), len(planned.Decisions), planned.Decisions)
			}
			for index, decision := range planned.Decisions {
				shown := explained.Decisions[index]
				if shown.PVC != decision.PVC || shown.To != decision.To.String() || shown.Kind != string(decision.Kind) {
					t.Errorf("decision %d: explain shows %+v, the planner decides %s to %s (%s)", index, shown, decision.PVC, decision.To.String(), decision.Kind)
				}
			}
			reported := view.Status(view.Plan, planned).Volumes
			if len(explained.Volumes) != len(planned.Volumes) {
				t.Fatalf("explain shows %d volumes, the planner %d", len(explained.Volumes), len(planned.Volumes))
			}
			for index, row := range planned.Volumes {
				shown := explained.Volumes[index]
				status := reported[index]
				if shown.PVC != row.PVC || shown.State != string(status.State) || shown.Gate != status.Gate || shown.Reason != status.Reason {
					t.Errorf("%s: explain shows %s/%s %q, the controller reports %s/%s %q", row.PVC, shown.State, shown.Gate, shown.Reason, status.State, status.Gate, status.Reason)
				}
				for _, gate := range shown.Gates {
					if gate.Reported && gate.Gate != string(row.Gate) {
						t.Errorf("%s: explain marks gate %s, the planner reports %s", row.PVC, gate.Gate, row.Gate)
					}
				}
			}
		})
	}
}

func listPolicies(t *testing.T, cluster string) []v1alpha1.StorageAutoscalePolicy {
	t.Helper()
	var list v1alpha1.StorageAutoscalePolicyList
	if err := env.Client.List(context.Background(), &list, client.InNamespace("db")); err != nil {
		t.Fatal(err)
	}
	var policies []v1alpha1.StorageAutoscalePolicy
	for _, p := range list.Items {
		if p.Spec.ClusterRef.Name == cluster {
			policies = append(policies, p)
		}
	}
	if len(policies) != 1 {
		t.Fatalf("%d policies of cluster %s, want 1", len(policies), cluster)
	}
	return policies
}
