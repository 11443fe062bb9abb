package e2e_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// These tests run e2e/run.sh itself, with a PATH of stub programs (kubectl,
// go, helm, podman, make, git) and a stub bin/sandbox and bin/ginkgo that record their
// arguments. Stubs are right here because the subject is the script's
// argument handling and the order of what it calls, not Kubernetes: the
// suite it starts is tested against real clusters by the script itself.
// The script runs from a copy in a temporary repository, so nothing it does
// can reach this checkout (its ledger, bin/) or a cluster.

const stub = `#!/bin/bash
name=$(basename "$0")
{ printf '%s\x1f' "$name" "$@"; echo; } >>"$STUB_LOG"
case "$name $*" in
"kubectl get namespaces -o name") printf 'namespace/default\nnamespace/autoscaler-e2e-old\n' ;;
"sandbox kubeconfig") echo "$STUB_DIR/kubeconfig" ;;
"sandbox kubectl") echo "$STUB_DIR/kubectl" ;;
"sandbox postgres-image") echo localhost/pgstorage-sandbox/postgresql:15.20 ;;
"images.sh tag") echo 0123456789ab ;;
"ginkgo "*)
	dir="" report=""
	for arg; do
		[[ $arg == --output-dir=* ]] && dir=${arg#*=}
		[[ $arg == --json-report=* ]] && report=${arg#*=}
	done
	[[ -n $report ]] && mkdir -p "$dir" && echo '[]' >"$dir/$report"
	exit "${STUB_SUITE_EXIT:-0}"
	;;
esac
exit 0
`

type invocation []string // program name, then its arguments

func (c invocation) String() string { return strings.Join(c, " ") }

type result struct {
	exitCode       int
	stdout, stderr string
	calls          []invocation
}

// callsOf returns the invocations of one program.
func (r result) callsOf(program string) []invocation {
	var calls []invocation
	for _, c := range r.calls {
		if c[0] == program {
			calls = append(calls, c)
		}
	}
	return calls
}

// runScript runs a copy of run.sh with args and env in a fresh repository
// whose bin/sandbox, bin/helm and hack/images.sh are stubs.
func runScript(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	repo := t.TempDir()
	stubDir := filepath.Join(t.TempDir(), "stubs")
	log := filepath.Join(stubDir, "calls.log")
	script, err := os.ReadFile("run.sh")
	if err != nil {
		t.Fatal(err)
	}
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(repo, "e2e", "run.sh"), string(script))
	for _, program := range []string{"kubectl", "go", "helm", "podman", "make", "git"} {
		write(filepath.Join(stubDir, program), stub)
	}
	write(filepath.Join(repo, "bin", "sandbox"), stub)
	write(filepath.Join(repo, "bin", "helm"), stub)
	write(filepath.Join(repo, "bin", "ginkgo"), stub)
	write(filepath.Join(repo, "hack", "images.sh"), stub)
	write(filepath.Join(repo, "bin", "images", "images.env"),
		"IMAGE_TAG=0123456789ab\nCONTROLLER_IMAGE=example.azurecr.io/pgstorage/cnpg-storage-autoscaler-controller:0123456789ab\n"+
			"SIDECAR_IMAGE=example.azurecr.io/pgstorage/cnpg-storage-autoscaler-sidecar:0123456789ab\n")
	write(log, "")

	cmd := exec.Command(filepath.Join(repo, "e2e", "run.sh"), args...)
	cmd.Env = []string{"PATH=" + stubDir + ":/usr/bin:/bin", "HOME=" + t.TempDir(), "STUB_LOG=" + log, "STUB_DIR=" + stubDir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("run.sh: %v", err)
		}
		r.exitCode = exit.ExitCode()
	}
	r.stdout, r.stderr = stdout.String(), stderr.String()
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		r.calls = append(r.calls, strings.Split(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\x1f"), "\x1f"))
	}
	return r
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantError string
	}{
		{"an unknown flag", []string{"--label-filter", "gate1", "--bogus"}, "unknown flag: --bogus"},
		{"a flag without its value", []string{"--fail-fast", "--focus"}, "--focus needs a value"},
		{"an unknown target", []string{"--target", "aks"}, "--target must be sandbox or cluster, not 'aks'"},
		{"no processes", []string{"--procs", "0"}, "--procs must be a whole number ≥ 1, not '0'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runScript(t, nil, tt.args...)
			if r.exitCode != 2 {
				t.Errorf("exit code %d, want 2", r.exitCode)
			}
			if !strings.Contains(r.stderr, tt.wantError) || !strings.Contains(r.stderr, "usage: e2e/run.sh") {
				t.Errorf("stderr lacks %q and the usage:\n%s", tt.wantError, r.stderr)
			}
			if len(r.calls) > 0 {
				t.Errorf("ran %v before rejecting its arguments", r.calls)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, flag := range []string{"-h", "--help"} {
		r := runScript(t, nil, "--target", "cluster", flag)
		if r.exitCode != 0 {
			t.Errorf("%s: exit code %d, want 0", flag, r.exitCode)
		}
		for _, documented := range []string{"--target sandbox|cluster", "--focus REGEX", "--label-filter EXPR", "--fail-fast",
			"--skip-build", "--skip-deploy", "--diagnose-only", "KUBECONFIG", "IMAGE_REGISTRY", "E2E_POSTGRES_IMAGE", "E2E_STORAGE_CLASS", "E2E_TIMEOUT_SCALE"} {
			if !strings.Contains(r.stdout, documented) {
				t.Errorf("%s does not document %s:\n%s", flag, documented, r.stdout)
			}
		}
		if len(r.calls) > 0 {
			t.Errorf("%s ran %v", flag, r.calls)
		}
	}
}

func TestClusterTargetNamesWhatIsMissing(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		args        []string
		wantMissing []string
		wantPresent []string // named in the environment, so not reported
	}{
		{
			name:        "nothing set",
			wantMissing: []string{"KUBECONFIG", "E2E_POSTGRES_IMAGE", "IMAGE_REGISTRY"},
		},
		{
			name:        "only KUBECONFIG set",
			env:         map[string]string{"KUBECONFIG": "/nonexistent/kubeconfig"},
			wantMissing: []string{"E2E_POSTGRES_IMAGE", "IMAGE_REGISTRY"},
			wantPresent: []string{"KUBECONFIG"},
		},
		{
			name:        "--skip-deploy needs no registry",
			env:         map[string]string{"E2E_POSTGRES_IMAGE": "ghcr.io/cloudnative-pg/postgresql:17"},
			args:        []string{"--skip-deploy"},
			wantMissing: []string{"KUBECONFIG"},
			wantPresent: []string{"E2E_POSTGRES_IMAGE", "IMAGE_REGISTRY"},
		},
		{
			name:        "--diagnose-only needs only KUBECONFIG",
			args:        []string{"--diagnose-only"},
			wantMissing: []string{"KUBECONFIG"},
			wantPresent: []string{"E2E_POSTGRES_IMAGE", "IMAGE_REGISTRY"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runScript(t, tt.env, append([]string{"--target", "cluster"}, tt.args...)...)
			if r.exitCode != 2 {
				t.Errorf("exit code %d, want 2", r.exitCode)
			}
			if !strings.Contains(r.stderr, "--target cluster needs:") {
				t.Errorf("stderr does not say what the cluster target needs:\n%s", r.stderr)
			}
			for _, name := range tt.wantMissing {
				if !strings.Contains(r.stderr, "  "+name+" (") {
					t.Errorf("stderr does not name %s:\n%s", name, r.stderr)
				}
			}
			for _, name := range tt.wantPresent {
				if strings.Contains(r.stderr, "  "+name+" (") {
					t.Errorf("stderr names %s, which is not missing:\n%s", name, r.stderr)
				}
			}
			if len(r.calls) > 0 {
				t.Errorf("ran %v before checking its environment", r.calls)
			}
		})
	}
}

// readOnly are the only kubectl verbs --diagnose-only may use.
var readOnly = []string{"get", "describe", "logs"}

func TestDiagnoseOnlyNeverMutates(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"cluster", map[string]string{"KUBECONFIG": "/nonexistent/kubeconfig"}, []string{"--target", "cluster", "--diagnose-only"}},
		{"sandbox", nil, []string{"--diagnose-only", "--label-filter", "gate1"}},
		{"sandbox without building", nil, []string{"--target", "sandbox", "--skip-build", "--diagnose-only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runScript(t, tt.env, tt.args...)
			if r.exitCode != 0 {
				t.Fatalf("exit code %d, want 0\n%s", r.exitCode, r.stderr)
			}
			var read []string
			for _, c := range r.callsOf("kubectl") {
				if len(c) < 2 || !slices.Contains(readOnly, c[1]) {
					t.Errorf("--diagnose-only ran %q: only kubectl %v is read-only", c, readOnly)
					continue
				}
				read = append(read, c.String())
			}
			all := strings.Join(read, "\n")
			for _, what := range []string{"storageautoscalepolicies", "storageobservations", "persistentvolumeclaims",
				"volumeattachments", "status.phase=Pending", "csinodes", "csi-azuredisk-node", "events", "logs"} {
				if !strings.Contains(all, what) {
					t.Errorf("--diagnose-only does not look at %s; it ran:\n%s", what, all)
				}
			}
			for _, c := range r.calls {
				switch {
				case c[0] == "kubectl":
				case c[0] == "sandbox" && (c[1] == "kubeconfig" || c[1] == "kubectl"):
				case c[0] == "go" && len(c) >= 4 && strings.Join(c[1:4], " ") == "build -o bin/sandbox":
				default:
					t.Errorf("--diagnose-only ran %q", c)
				}
			}
		})
	}
}

// The cluster path cannot run here; this walks it with stubs to prove its
// order and arguments: stale namespaces, push, Helm, suite, ledger.
func TestClusterRun(t *testing.T) {
	env := map[string]string{
		"KUBECONFIG":         "/nonexistent/kubeconfig",
		"IMAGE_REGISTRY":     "example.azurecr.io/pgstorage",
		"E2E_POSTGRES_IMAGE": "ghcr.io/cloudnative-pg/postgresql:17",
	}
	args := []string{"--target", "cluster", "--skip-build", "--label-filter", "gate1 || gate2", "--focus", "it's", "--fail-fast"}
	r := runScript(t, env, args...)
	if r.exitCode != 0 {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", r.exitCode, r.stdout, r.stderr)
	}
	var got []string
	for _, c := range r.calls {
		got = append(got, c.String())
	}
	controller := "example.azurecr.io/pgstorage/cnpg-storage-autoscaler-controller:0123456789ab"
	sidecar := "example.azurecr.io/pgstorage/cnpg-storage-autoscaler-sidecar:0123456789ab"
	want := []string{
		"kubectl get namespaces -o name",
		"kubectl delete --wait=false namespace/autoscaler-e2e-old",
		"push " + controller,
		"push " + sidecar,
		"helm upgrade --install cnpg-storage-autoscaler",
		"ginkgo --tags=e2e",
		"images.sh tag",
		"go run ./e2e/ledger/cmd",
	}
	// Namespaces go before the suite, after the install: find each in order.
	order := func(prefix string) int {
		for i, c := range got {
			if strings.HasPrefix(c, prefix) || (strings.HasPrefix(prefix, "push ") && strings.HasPrefix(c, "podman") &&
				strings.Contains(c, " manifest push --all "+strings.TrimPrefix(prefix, "push ")+" docker://"+strings.TrimPrefix(prefix, "push "))) {
				return i
			}
		}
		return -1
	}
	at := map[string]int{}
	for _, w := range want {
		if at[w] = order(w); at[w] < 0 {
			t.Errorf("never ran %q; calls:\n%s", w, strings.Join(got, "\n"))
		}
	}
	for _, pair := range [][2]string{{want[3], want[4]}, {want[4], want[5]}, {want[1], want[5]}, {want[5], want[7]}} {
		if at[pair[0]] > at[pair[1]] {
			t.Errorf("%q ran after %q", pair[0], pair[1])
		}
	}
	for _, c := range r.calls {
		line := c.String()
		switch {
		case c[0] == "podman" && slices.Contains(c, "add"):
			if !slices.Contains(c, "--all") || !strings.Contains(line, "oci-archive:bin/images/cnpg-storage-autoscaler-") {
				t.Errorf("pushes less than the multi-arch index: %s", line)
			}
		case c[0] == "helm":
			for _, set := range []string{
				"image.repository=example.azurecr.io/pgstorage/cnpg-storage-autoscaler-controller", "image.tag=0123456789ab",
				"sidecar.image.repository=example.azurecr.io/pgstorage/cnpg-storage-autoscaler-sidecar", "sidecar.image.tag=0123456789ab",
			} {
				if !slices.Contains(c, set) {
					t.Errorf("helm does not set %s: %s", set, line)
				}
			}
		case c[0] == "ginkgo":
			// On a cluster, one spec at a time (Azure Disk attaches queue).
			for _, flag := range []string{"--label-filter=gate1 || gate2", "--focus=it's", "--fail-fast", "./e2e/suite/",
				"--timeout=270m", "--procs=1", "-v"} {
				if !slices.Contains(c, flag) {
					t.Errorf("ginkgo lacks %q: %q", flag, c)
				}
			}
		case c[0] == "go" && c[1] == "run":
			i := slices.Index(c, "--command")
			wantCommand := `e2e/run.sh --target cluster --skip-build --label-filter 'gate1 || gate2' --focus 'it'\''s' --fail-fast`
			if i < 0 || i+1 >= len(c) || c[i+1] != wantCommand {
				t.Errorf("the ledger gets the command %q, want %q", c, wantCommand)
			}
			for _, arg := range []string{"0123456789ab", "cluster", "E2E_TEST_SUMMARY.md"} {
				if !slices.Contains(c, arg) {
					t.Errorf("the ledger lacks %q: %q", arg, c)
				}
			}
		case c[0] == "make":
			t.Errorf("--skip-build ran %s", line)
		}
	}
}

// A failing suite still reaches the ledger, prints the diagnostics, and
// the run fails with it.
func TestFailingSuiteFailsTheRun(t *testing.T) {
	env := map[string]string{
		"KUBECONFIG":         "/nonexistent/kubeconfig",
		"E2E_POSTGRES_IMAGE": "ghcr.io/cloudnative-pg/postgresql:17",
		"STUB_SUITE_EXIT":    "1",
	}
	r := runScript(t, env, "--target", "cluster", "--skip-deploy")
	if r.exitCode != 1 {
		t.Errorf("exit code %d, want 1", r.exitCode)
	}
	var ledger, logs bool
	for _, c := range r.calls {
		ledger = ledger || (c[0] == "go" && c[1] == "run")
		logs = logs || (c[0] == "kubectl" && c[1] == "logs")
		if c[0] == "helm" || c[0] == "podman" {
			t.Errorf("--skip-deploy ran %s", c)
		}
	}
	if !ledger || !logs {
		t.Errorf("ledger run: %v, diagnostics printed: %v; want both", ledger, logs)
	}
}
