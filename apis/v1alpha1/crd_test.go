package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
)

// These tests run against a real kube-apiserver with the generated CRDs: they
// prove that the schema, its defaults and its CEL rules do what the API
// promises, which no unit test of Go structs can.

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, &env))
}

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crd-test-"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

func policyFromYAML(t *testing.T, namespace, doc string) *v1alpha1.StorageAutoscalePolicy {
	t.Helper()
	p := &v1alpha1.StorageAutoscalePolicy{}
	if err := yaml.UnmarshalStrict([]byte(doc), p); err != nil {
		t.Fatalf("decode policy: %v\n%s", err, doc)
	}
	p.Namespace = namespace
	return p
}

func TestExamplesApply(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "docs", "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example policies found under docs/examples (err %v)", err)
	}
	ns := newNamespace(t)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			doc, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			p := policyFromYAML(t, ns, string(doc))
			if err := env.Client.Create(context.Background(), p); err != nil {
				t.Fatalf("example %s was rejected: %v", file, err)
			}
		})
	}
}

// A minimal valid policy; each invalid case below breaks one thing in it.
const validPolicy = `
apiVersion: pgstorage.io/v1alpha1
kind: StorageAutoscalePolicy
metadata: {name: p}
spec:
  clusterRef: {name: orders}
  volumes:
    data: {limit: 10Gi}
`

func TestInvalidPoliciesAreRejectedWithAClearMessage(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name    string
		yaml    string
		message string
	}{
		{
			name:    "trigger percentage above 99",
			yaml:    strings.Replace(validPolicy, "{limit: 10Gi}", "{limit: 10Gi, trigger: {usedPercent: 120}}", 1),
			message: "trigger.usedPercent must be a whole percentage between 1 and 99",
		},
		{
			name:    "trigger percentage of zero",
			yaml:    strings.Replace(validPolicy, "{limit: 10Gi}", "{limit: 10Gi, trigger: {usedPercent: 0}}", 1),
			message: "trigger.usedPercent must be a whole percentage between 1 and 99",
		},
		{
			name:    "inodes percentage of 100",
			yaml:    strings.Replace(validPolicy, "{limit: 10Gi}", "{limit: 10Gi, trigger: {inodesUsedPercent: 100}}", 1),
			message: "trigger.inodesUsedPercent must be a whole percentage between 1 and 99",
		},
		{
			name:    "fractional percentage",
			yaml:    strings.Replace(validPolicy, "{limit: 10Gi}", "{limit: 10Gi, trigger: {usedPercent: 80.5}}", 1),
			message: "must be of type integer",
		},
		{
			name:    "critical equal to trigger",
			yaml:    strings.Replace(validPolicy, "{limit: 10Gi}", "{limit: 10Gi, trigger: {usedPercent: 90}, critical: {usedPercent: 90}}", 1),
			message: "critical.usedPercent must be greater than trigger.usedPercent",
		},
		{
			name:    "critical below the default trigger",
			yaml:    strings.Replace(validPolicy, "{limit: 10Gi}", "{limit: 10Gi, critical: {usedPercent: 70}}", 1),
			message: "critical.usedPercent must be greater than trigger.usedPercent",
		},
		{
			name:    "critical above 99 on the WAL rule",
			yaml:    strings.Replace(validPolicy, "{limit: 10Gi}", "{limit: 10Gi}\n    wal: {limit: 5Gi, critical: {usedPercent: 100}}", 1),
			message: "critical.usedPercent must be a whole percentage between 1 and 99",
		},
		{
			name:    "critical inodes equal to the trigger's",
			yaml:    strings.Replace(validPolicy, "{limit: 10Gi}", "{limit: 10Gi, trigger: {inodesUsedPercent: 95}, critical: {inodesUsedPercent: 95}}", 1),
			message: "critical.inodesUsedPercent must be greater than trigger.inodesUsedPercent",
		},
		{
			name:    "trigger inodes above the default critical",
			yaml:    strings.Replace(validPolicy, "{limit: 10Gi}", "{limit: 10Gi, trigger: {inodesUsedPercent: 97}}", 1),
			message: "critical.inodesUsedPercent must be greater than trigger.inodesUsedPercent",
		},
		{
			name:    "critical inodes of 100",
			yaml:    strings.Replace(validPolicy, "{limit: 10Gi}", "{limit: 10Gi, critical: {inodesUsedPercent: 100}}", 1),
			message: "critical.inodesUsedPercent must be a whole percentage between 1 and 99",
		},
		{
			name:    "missing data limit",
			yaml:    strings.Replace(validPolicy, "{limit: 10Gi}", "{trigger: {usedPercent: 80}}", 1),
			message: "spec.volumes.data.limit is required",
		},
		{
			name:    "zero limit",
			yaml:    strings.Replace(validPolicy, "{limit: 10Gi}", "{limit: \"0\"}", 1),
			message: "limit must be a positive size",
		},
		{
			name:    "target free percentage of 100",
			yaml:    strings.Replace(validPolicy, "{limit: 10Gi}", "{limit: 10Gi, targetFreePercent: 100}", 1),
			message: "targetFreePercent must be a whole percentage between 1 and 99",
		},
		{
			name:    "negative cooldown",
			yaml:    strings.Replace(validPolicy, "{limit: 10Gi}", "{limit: 10Gi, cooldown: -5m}", 1),
			message: "cooldown cannot be negative",
		},
		{
			name:    "cron schedule with four fields",
			yaml:    validPolicy + "  maintenanceWindows: [{schedule: \"0 2 * *\", duration: 2h}]\n",
			message: "schedule must be a cron expression with five fields",
		},
		{
			name:    "window longer than a day",
			yaml:    validPolicy + "  maintenanceWindows: [{schedule: \"0 2 * * *\", duration: 25h}]\n",
			message: "duration must be more than 0 and at most 24h",
		},
		{
			name:    "emergency reserve above the daily budget",
			yaml:    validPolicy + "  budget: {maxActionsPerDay: 3, emergencyReserve: 4}\n",
			message: "budget.emergencyReserve cannot exceed budget.maxActionsPerDay",
		},
		{
			name:    "daily budget above 48",
			yaml:    validPolicy + "  budget: {maxActionsPerDay: 49}\n",
			message: "budget.maxActionsPerDay must be between 1 and 48",
		},
		{
			name:    "empty cluster name",
			yaml:    strings.Replace(validPolicy, "{name: orders}", "{name: \"\"}", 1),
			message: "spec.clusterRef.name must name a CNPG Cluster in this namespace",
		},
		{
			name:    "unknown mode",
			yaml:    validPolicy + "  mode: Auto\n",
			message: `supported values: "Enforce", "DryRun"`,
		},
		{
			name:    "observation max age too short",
			yaml:    validPolicy + "  observationMaxAge: 60s\n",
			message: "observationMaxAge must be between 90s and 1h: the probe rewrites an unchanged observation every 60s",
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Sent as written, the way kubectl sends it: a typed Go struct
			// could not even hold some of these mistakes.
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(tc.yaml), &u.Object); err != nil {
				t.Fatal(err)
			}
			u.SetNamespace(ns)
			u.SetName(fmt.Sprintf("invalid-%d", i))
			err := env.Client.Create(context.Background(), u)
			if err == nil {
				t.Fatalf("policy was accepted; want rejection mentioning %q", tc.message)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("rejection does not say %q:\n%v", tc.message, err)
			}
		})
	}

	t.Run("the valid base policy is accepted", func(t *testing.T) {
		if err := env.Client.Create(context.Background(), policyFromYAML(t, ns, validPolicy)); err != nil {
			t.Fatalf("valid policy rejected: %v", err)
		}
	})
}

func TestClusterRefIsImmutable(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	p := policyFromYAML(t, ns, validPolicy)
	if err := env.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Spec.ClusterRef.Name = "other"
	err := env.Client.Update(ctx, p)
	if err == nil || !strings.Contains(err.Error(), "spec.clusterRef.name cannot be changed") {
		t.Fatalf("changing clusterRef.name: got %v, want a rejection saying it cannot be changed", err)
	}
}

// The Go defaults (used by code that builds policies in Go) must be exactly
// what the API server stores for the same input.
func TestGoDefaultsMatchTheCRDDefaults(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	const sparse = `
apiVersion: pgstorage.io/v1alpha1
kind: StorageAutoscalePolicy
metadata: {name: sparse}
spec:
  clusterRef: {name: orders}
  volumes:
    data: {limit: 10Gi}
    wal: {limit: 2Gi, trigger: {usedPercent: 70}}
    tablespaces:
      default: {limit: 5Gi}
      byName:
        idx: {limit: 7Gi, step: {percent: 50}}
  maintenanceWindows: [{schedule: "0 2 * * *", duration: 2h}]
`
	stored := policyFromYAML(t, ns, sparse)
	if err := env.Client.Create(ctx, stored); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(stored), stored); err != nil {
		t.Fatal(err)
	}
	inGo := policyFromYAML(t, ns, sparse).Spec
	inGo.Default()
	if !equality.Semantic.DeepEqual(inGo, stored.Spec) {
		want, _ := yaml.Marshal(stored.Spec)
		got, _ := yaml.Marshal(inGo)
		t.Fatalf("Go defaults differ from the CRD defaults.\nAPI server stored:\n%s\nGo Default() gave:\n%s", want, got)
	}
}

func TestObservationIdentityIsImmutableAndStatusIsASubresource(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	obs := &v1alpha1.StorageObservation{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-1", Namespace: ns},
		Spec:       v1alpha1.StorageObservationSpec{Cluster: "orders", Instance: "orders-1", PodUID: "uid-1"},
	}
	if err := env.Client.Create(ctx, obs); err != nil {
		t.Fatal(err)
	}

	now := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))
	obs.Status = v1alpha1.StorageObservationStatus{
		ObservedAt: &now,
		Role:       v1alpha1.InstancePrimary,
		Volumes: []v1alpha1.ObservedVolume{{
			Name: "pgdata", Role: v1alpha1.RoleData, PVC: "orders-1", MountPath: "/var/lib/postgresql/data",
			CapacityBytes: 1 << 30, UsedBytes: 1 << 29, AvailableBytes: 1 << 29,
		}},
		Postgres: v1alpha1.PostgresObservation{Reachable: false, Reason: "connection refused"},
	}
	if err := env.Client.Status().Update(ctx, obs); err != nil {
		t.Fatalf("status update: %v", err)
	}
	got := &v1alpha1.StorageObservation{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obs), got); err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Volumes) != 1 || got.Status.Volumes[0].UsedBytes != 1<<29 || !got.Status.ObservedAt.Equal(&now) {
		t.Fatalf("status not stored as written: %+v", got.Status)
	}

	got.Spec.PodUID = "uid-2"
	err := env.Client.Update(ctx, got)
	if err == nil || !strings.Contains(err.Error(), "spec is the pod's identity and cannot change") {
		t.Fatalf("changing the pod UID: got %v, want a rejection", err)
	}
}
