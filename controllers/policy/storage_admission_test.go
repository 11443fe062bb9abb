package policy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
)

// The least-privilege policies of deploy/admission on the real API server,
// with real ServiceAccount tokens. RBAC lets the controller patch every PVC
// and every CNPG Cluster; each policy narrows what it may change to what the
// controller does, and another ServiceAccount with the same RBAC is not
// affected. Every test grants more than the chart does (delete, status), to
// show the policy holds if RBAC is ever widened.

const (
	pvcGrowthDenied      = "the controller may only raise the storage request of a CNPG PVC and set its pgstorage.io/ annotations"
	clusterStorageDenied = "the controller may only raise the storage sizes of a CNPG Cluster and set kubectl.kubernetes.io/restartedAt"
	writerRBACDenied     = "the controller may write only the Role and RoleBinding pgstorage-observation-writer"
)

type requestCase struct{ name, body, message string }

func TestPVCGrowthPolicyLetsTheControllerOnlyRaiseTheStorageRequest(t *testing.T) {
	ctx := context.Background()
	installAdmissionPolicy(t, "pvc-growth.yaml")
	w := newWorld(t, nil, worldOptions{instances: 1, dataGi: 10, expandable: true})
	rules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims", "persistentvolumeclaims/status"},
		Verbs: []string{"get", "patch", "update", "delete"}}}
	controller := clientAs(t, controllerNamespace, controllerServiceAccount, w.namespace, rules)
	someoneElse := clientAs(t, w.namespace, "someone-else", w.namespace, rules)
	patch := func(as client.Client, name, body string, options ...client.PatchOption) error {
		target := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: w.namespace, Name: name}}
		return as.Patch(ctx, target, client.RawPatch(types.MergePatchType, []byte(body)), options...)
	}
	eventually(t, "the pvc-growth policy denying the controller a label change", func() (bool, string) {
		err := patch(controller, "orders-1", `{"metadata":{"labels":{"cnpg.io/pvcRole":"PG_WAL"}}}`, client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), pvcGrowthDenied), fmt.Sprint(err)
	})
	live := func(name string) *corev1.PersistentVolumeClaim {
		got := &corev1.PersistentVolumeClaim{}
		must(t, env.Client.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: name}, got))
		return got
	}

	// status.capacity is 10Gi.
	for _, allowed := range []struct{ name, body, want string }{
		{"raising the request", `{"spec":{"resources":{"requests":{"storage":"12Gi"}}}}`, "12Gi"},
		{"setting its own annotation", `{"metadata":{"annotations":{"pgstorage.io/growth":"x"}}}`, "12Gi"},
		{"retrying a failed growth lower, still above status.capacity", `{"spec":{"resources":{"requests":{"storage":"11Gi"}}}}`, "11Gi"},
	} {
		if err := patch(controller, "orders-1", allowed.body); err != nil {
			t.Fatalf("the controller %s: %v", allowed.name, err)
		}
		if got := live("orders-1").Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != allowed.want {
			t.Fatalf("after %s the request is %s, want %s", allowed.name, got.String(), allowed.want)
		}
	}
	settled := live("orders-1")
	for _, denied := range []requestCase{
		{"changing a label", `{"metadata":{"labels":{"cnpg.io/instanceName":"orders-9"}}}`, "changes its labels"},
		{"adding a label with a raise", `{"metadata":{"labels":{"x":"y"}},"spec":{"resources":{"requests":{"storage":"13Gi"}}}}`, "changes its labels"},
		{"adding a foreign annotation", `{"metadata":{"annotations":{"example.com/x":"y"}}}`, "changes annotations outside pgstorage.io/"},
		{"adding a finalizer", `{"metadata":{"finalizers":["example.com/hold"]}}`, "changes its finalizers or owner references"},
		{"changing the volume attributes class", `{"spec":{"volumeAttributesClassName":"fast"}}`, "changes its spec beyond resources.requests.storage"},
	} {
		err := patch(controller, "orders-1", denied.body)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), pvcGrowthDenied) || !strings.Contains(err.Error(), denied.message) {
			t.Errorf("the controller %s: %v; want denied: %q", denied.name, err, denied.message)
		}
	}
	// The API server's own validation, which runs before admission policies,
	// already refuses these; the policy repeats the first two (a request at
	// or below status.capacity) in case that validation ever relaxes.
	for _, refused := range []struct{ name, body string }{
		{"lowering the request to status.capacity", `{"spec":{"resources":{"requests":{"storage":"10Gi"}}}}`},
		{"lowering the request below status.capacity", `{"spec":{"resources":{"requests":{"storage":"5Gi"}}}}`},
		{"adding another request", `{"spec":{"resources":{"requests":{"cpu":"1"}}}}`},
	} {
		if err := patch(controller, "orders-1", refused.body); err == nil {
			t.Errorf("the controller %s: allowed", refused.name)
		}
	}
	err := controller.Status().Patch(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: w.namespace, Name: "orders-1"}},
		client.RawPatch(types.MergePatchType, []byte(`{"status":{"phase":"Lost"}}`)))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "(subresource status) is not such a change") {
		t.Errorf("the controller patching the PVC's status: %v; want denied", err)
	}
	err = controller.Delete(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: w.namespace, Name: "orders-1"}})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "DELETE of PVC") {
		t.Errorf("the controller deleting the PVC: %v; want denied", err)
	}
	// Only CNPG's PVCs: another PVC may not even be raised.
	other := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "web-data", Namespace: w.namespace},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: gi(1)}}},
	}
	must(t, env.Client.Create(ctx, other))
	err = patch(controller, other.Name, `{"metadata":{"annotations":{"pgstorage.io/growth":"x"}}}`)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "it is not a CNPG PVC") {
		t.Errorf("the controller annotating a PVC that is not CNPG's: %v; want denied", err)
	}
	if got := live("orders-1"); got.ResourceVersion != settled.ResourceVersion {
		t.Errorf("a denied request changed the PVC: resourceVersion %s -> %s", settled.ResourceVersion, got.ResourceVersion)
	}

	// Anyone else is not matched.
	for _, body := range []string{`{"metadata":{"labels":{"x":"y"}}}`, `{"metadata":{"annotations":{"example.com/x":"y"}}}`} {
		if err := patch(someoneElse, "orders-1", body); err != nil {
			t.Errorf("another ServiceAccount was affected by the pvc-growth policy: %s: %v", body, err)
		}
	}
}

func TestClusterStoragePolicyLetsTheControllerOnlyRaiseSizesAndRestart(t *testing.T) {
	ctx := context.Background()
	installAdmissionPolicy(t, "cluster-storage.yaml")
	w := newWorld(t, nil, worldOptions{instances: 1, dataGi: 10, walGi: 2, expandable: true})
	cluster := &cnpgv1.Cluster{}
	must(t, env.Client.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: "orders"}, cluster))
	cluster.Spec.Tablespaces = []cnpgv1.TablespaceConfiguration{{Name: "idx", Storage: cnpgv1.StorageConfiguration{Size: "1Gi"}}}
	cluster.Labels = map[string]string{"team": "orders"}
	must(t, env.Client.Update(ctx, cluster))

	rules := []rbacv1.PolicyRule{{APIGroups: []string{"postgresql.cnpg.io"}, Resources: []string{"clusters", "clusters/status"},
		Verbs: []string{"get", "patch", "update", "delete"}}}
	controller := clientAs(t, controllerNamespace, controllerServiceAccount, w.namespace, rules)
	someoneElse := clientAs(t, w.namespace, "someone-else", w.namespace, rules)
	patch := func(as client.Client, body string, options ...client.PatchOption) error {
		target := &cnpgv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: w.namespace, Name: "orders"}}
		return as.Patch(ctx, target, client.RawPatch(types.MergePatchType, []byte(body)), options...)
	}
	eventually(t, "the cluster-storage policy denying the controller a label change", func() (bool, string) {
		err := patch(controller, `{"metadata":{"labels":{"team":"x"}}}`, client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), clusterStorageDenied), fmt.Sprint(err)
	})
	live := func() *cnpgv1.Cluster {
		got := &cnpgv1.Cluster{}
		must(t, env.Client.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: "orders"}, got))
		return got
	}
	for _, allowed := range []struct{ name, body string }{
		{"raising spec.storage.size", `{"spec":{"storage":{"size":"12Gi"}}}`},
		{"raising spec.walStorage.size", `{"spec":{"walStorage":{"size":"3Gi"}}}`},
		{"raising a tablespace's size (the list is replaced whole)",
			`{"spec":{"tablespaces":[{"name":"idx","owner":{},"storage":{"size":"2Gi"}}]}}`},
		{"asking CNPG for a rolling restart",
			`{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-01-01T00:00:00Z","pgstorage.io/last-restart":"2026-01-01T00:00:00Z"}}}`},
	} {
		if err := patch(controller, allowed.body); err != nil {
			t.Fatalf("the controller %s: %v", allowed.name, err)
		}
	}
	settled := live()
	if settled.Spec.StorageConfiguration.Size != "12Gi" || settled.Spec.WalStorage.Size != "3Gi" || settled.Spec.Tablespaces[0].Storage.Size != "2Gi" {
		t.Fatalf("the raises did not land: %s %s %s", settled.Spec.StorageConfiguration.Size, settled.Spec.WalStorage.Size, settled.Spec.Tablespaces[0].Storage.Size)
	}
	for _, denied := range []requestCase{
		{"lowering spec.storage.size", `{"spec":{"storage":{"size":"11Gi"}}}`, "lowers (or removes) a storage size"},
		{"lowering spec.walStorage.size", `{"spec":{"walStorage":{"size":"1Gi"}}}`, "lowers (or removes) a storage size"},
		{"lowering a tablespace's size", `{"spec":{"tablespaces":[{"name":"idx","owner":{},"storage":{"size":"1Gi"}}]}}`, "lowers (or removes) a storage size"},
		{"changing the image", `{"spec":{"imageName":"postgres:99"}}`, "changes its spec beyond the storage sizes"},
		{"changing the number of instances", `{"spec":{"instances":5}}`, "changes its spec beyond the storage sizes"},
		{"changing the image with a raise", `{"spec":{"imageName":"postgres:99","storage":{"size":"20Gi"}}}`, "changes its spec beyond the storage sizes"},
		{"changing the storage class", `{"spec":{"storage":{"storageClass":"other"}}}`, "changes its storage beyond the sizes"},
		{"adding a tablespace", `{"spec":{"tablespaces":[{"name":"idx","owner":{},"storage":{"size":"2Gi"}},{"name":"new","owner":{},"storage":{"size":"1Gi"}}]}}`, "changes its storage beyond the sizes"},
		{"changing a label", `{"metadata":{"labels":{"team":"x"}}}`, "changes its labels"},
		{"adding a foreign annotation", `{"metadata":{"annotations":{"example.com/x":"y"}}}`, "changes other annotations"},
		{"adding a finalizer", `{"metadata":{"finalizers":["example.com/hold"]}}`, "changes its finalizers or owner references"},
	} {
		err := patch(controller, denied.body)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), clusterStorageDenied) || !strings.Contains(err.Error(), denied.message) {
			t.Errorf("the controller %s: %v; want denied: %q", denied.name, err, denied.message)
		}
	}
	err := controller.Delete(ctx, &cnpgv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: w.namespace, Name: "orders"}})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "DELETE of Cluster") {
		t.Errorf("the controller deleting the Cluster: %v; want denied", err)
	}
	if got := live(); got.ResourceVersion != settled.ResourceVersion {
		t.Errorf("a denied request changed the Cluster: resourceVersion %s -> %s", settled.ResourceVersion, got.ResourceVersion)
	}
	if err := patch(someoneElse, `{"metadata":{"labels":{"team":"x"}},"spec":{"instances":2}}`); err != nil {
		t.Errorf("another ServiceAccount was affected by the cluster-storage policy: %v", err)
	}
}

// TestClusterStoragePolicyListsEveryClusterSpecField: the policy compares
// CNPG's Cluster spec field by field; a field it does not list would be
// free to change. The list must be CNPG's, of the version the product pins.
func TestClusterStoragePolicyListsEveryClusterSpecField(t *testing.T) {
	policy, _ := readAdmissionPolicy(t, "cluster-storage.yaml")
	var checks string
	for _, v := range policy.Spec.Validations {
		checks += v.Expression + "\n"
	}
	crd := &struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties map[string]struct {
							Properties map[string]any `json:"properties"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}{}
	dir, err := testenv.CNPGCRDDir()
	must(t, err)
	raw, err := os.ReadFile(filepath.Join(dir, "postgresql.cnpg.io_clusters.yaml"))
	must(t, err)
	must(t, yaml.Unmarshal(raw, crd))
	fields := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties
	if len(fields) < 40 {
		t.Fatalf("read %d Cluster spec fields from CNPG's CRD; has its layout changed?", len(fields))
	}
	for field := range fields {
		switch field {
		case "storage", "walStorage", "tablespaces":
			continue
		}
		if !strings.Contains(checks, fmt.Sprintf("object.spec.?%s == oldObject.spec.?%s", field, field)) {
			t.Errorf("cluster-storage.yaml does not keep spec.%s unchanged: add it to the list", field)
		}
	}
}

func TestObservationWriterRBACPolicyLetsTheControllerWriteOnlyItsRoles(t *testing.T) {
	ctx := context.Background()
	installAdmissionPolicy(t, "observation-writer-rbac.yaml")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "writer-vap-"}}
	must(t, env.Client.Create(ctx, ns))
	// The controller may grant only what it holds: give it what the Role grants.
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "rolebindings"}, Verbs: []string{"get", "create", "update", "delete"}},
		{APIGroups: []string{"pgstorage.io"}, Resources: []string{"storageobservations"}, Verbs: []string{"get"}},
	}
	controller := clientAs(t, controllerNamespace, controllerServiceAccount, ns.Name, rules)
	role := func(name string) *rbacv1.Role {
		return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns.Name},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"pgstorage.io"}, Resources: []string{"storageobservations"}, Verbs: []string{"get"}}}}
	}
	binding := func(name, roleName string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns.Name},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: roleName},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "orders", Namespace: ns.Name}}}
	}
	eventually(t, "the observation-writer policy denying the controller another Role", func() (bool, string) {
		err := controller.Create(ctx, role("admin"), client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), writerRBACDenied), fmt.Sprint(err)
	})
	must(t, controller.Create(ctx, role("pgstorage-observation-writer")))
	must(t, controller.Create(ctx, binding("pgstorage-observation-writer", "pgstorage-observation-writer")))
	for _, denied := range []struct {
		name    string
		err     error
		message string
	}{
		{"creating another Role", controller.Create(ctx, role("other")), "is not allowed"},
		{"creating another RoleBinding", controller.Create(ctx, binding("other", "pgstorage-observation-writer")), "is not allowed"},
		{"binding another role under the owned name", controller.Update(ctx, func() *rbacv1.RoleBinding {
			b := &rbacv1.RoleBinding{}
			must(t, env.Client.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "pgstorage-observation-writer"}, b))
			b.Subjects = append(b.Subjects, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "x", Namespace: ns.Name})
			return b
		}()), ""},
	} {
		if denied.message == "" {
			// A subject change of the owned binding is what the controller does.
			if denied.err != nil {
				t.Errorf("the controller updating its own RoleBinding's subjects: %v", denied.err)
			}
			continue
		}
		if !apierrors.IsForbidden(denied.err) || !strings.Contains(denied.err.Error(), writerRBACDenied) || !strings.Contains(denied.err.Error(), denied.message) {
			t.Errorf("the controller %s: %v; want denied: %q", denied.name, denied.err, denied.message)
		}
	}
	must(t, controller.Delete(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "pgstorage-observation-writer", Namespace: ns.Name}}))
	// A Role the controller could bind (it holds what the Role grants).
	must(t, env.Client.Create(ctx, role("other")))
	err := controller.Create(ctx, binding("pgstorage-observation-writer", "other"))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "binds another role") {
		t.Errorf("the controller binding another Role under its own name: %v; want denied", err)
	}
}

// installAdmissionPolicy creates the policy and binding of one file of
// deploy/admission. Whether its CEL compiles is proven by the allowed
// requests: a policy that fails to compile denies everything (Fail).
func installAdmissionPolicy(t *testing.T, file string) {
	t.Helper()
	policy, binding := readAdmissionPolicy(t, file)
	for _, object := range []client.Object{policy, binding} {
		if err := env.Client.Create(context.Background(), object); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create %s from %s: %v", object.GetName(), file, err)
		}
	}
}

func readAdmissionPolicy(t *testing.T, file string) (*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	t.Helper()
	path := filepath.Join(testenv.RepoRoot(), "deploy", "admission", file)
	raw, err := os.ReadFile(path)
	must(t, err)
	docs := strings.Split(string(raw), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("%s: %d documents, want the policy and its binding", path, len(docs))
	}
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
	must(t, yaml.UnmarshalStrict([]byte(docs[0]), policy))
	must(t, yaml.UnmarshalStrict([]byte(docs[1]), binding))
	if policy.Kind != "ValidatingAdmissionPolicy" || binding.Kind != "ValidatingAdmissionPolicyBinding" {
		t.Fatalf("%s holds %s and %s", path, policy.Kind, binding.Kind)
	}
	return policy, binding
}

// clientAs is a client authenticated with a real token of the
// ServiceAccount namespace/name (created if missing), granted rules in
// grantNamespace by a Role and RoleBinding of its own.
func clientAs(t *testing.T, namespace, name, grantNamespace string, rules []rbacv1.PolicyRule) client.Client {
	t.Helper()
	ctx := context.Background()
	c := env.Client
	createServiceAccount(t, namespace, name)
	grant := "grant-" + namespace + "-" + name
	must(t, c.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: grant, Namespace: grantNamespace}, Rules: rules}))
	must(t, c.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: grant, Namespace: grantNamespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: grant},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}},
	}))
	return env.TokenClient(t, namespace, name, nil)
}

// createServiceAccount creates the ServiceAccount namespace/name and its
// namespace when they are missing.
func createServiceAccount(t *testing.T, namespace, name string) {
	t.Helper()
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}
