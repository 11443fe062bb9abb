package chart

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint/support"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/writers"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
)

// TestLint is `helm lint --strict` with every value set: no error, no warning.
func TestLint(t *testing.T) {
	kube, err := chartutil.ParseKubeVersion(testenv.KubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range valueSets() {
		t.Run(set.name, func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = set.namespace
			lint.KubeVersion = kube
			result := lint.Run([]string{chartDir()}, set.values)
			for _, err := range result.Errors {
				t.Errorf("lint: %v", err)
			}
			for _, m := range result.Messages {
				if m.Severity > support.InfoSev {
					t.Errorf("lint: %s", m)
				}
			}
			if result.TotalChartsLinted != 1 {
				t.Errorf("linted %d charts, want 1", result.TotalChartsLinted)
			}
		})
	}
}

// TestValuesSchemaRejectsMistakes: a typo in values fails at install, not
// silently later.
func TestValuesSchemaRejectsMistakes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"unknown top-level key", map[string]any{"replicas": 3}, "replicas"},
		{"misspelt nested key", map[string]any{"sidecar": map[string]any{"imag": map[string]any{"repository": "x"}}}, "imag"},
		{"cert-manager flag as a string", map[string]any{"certManager": map[string]any{"enabled": "yes"}}, "enabled"},
		{"duration without a unit", map[string]any{"controller": map[string]any{"resizeTimeout": "10"}}, "resizeTimeout"},
		{"sidecar memory limit removed", map[string]any{"sidecar": map[string]any{"resources": map[string]any{
			"limits": map[string]any{"memory": nil}}}}, "memory"},
		{"zero replicas", map[string]any{"replicaCount": 0}, "replicaCount"},
		{"dashboard flag misspelt", map[string]any{"grafanaDashboard": map[string]any{"enable": true}}, "enable"},
		{"dashboard in a namespace that cannot exist", map[string]any{"grafanaDashboard": map[string]any{"namespace": "Monitoring"}}, "namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderManifest(releaseNamespace, tc.values)
			if err == nil {
				t.Fatalf("values %v were accepted", tc.values)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

// TestWebhooksFailOpen: the pod and PVC webhooks must never stop CNPG from
// creating a pod or a PVC (DESIGN §6); only the policy check fails closed.
func TestWebhooksFailOpen(t *testing.T) {
	for _, set := range valueSets() {
		t.Run(set.name, func(t *testing.T) {
			objects := render(t, set.namespace, set.values)
			service := into[corev1.Service](t, findNamed(t, objects, "Service", releaseName+"-webhook"))
			deployment := into[appsv1.Deployment](t, one(t, objects, "Deployment"))
			webhookPort := containerPort(t, deployment, "webhook")
			checkService := func(name string, ref *admissionregistrationv1.ServiceReference) {
				t.Helper()
				if ref == nil || ref.Name != service.Name || ref.Namespace != set.namespace {
					t.Errorf("webhook %s calls %+v, want Service %s/%s", name, ref, set.namespace, service.Name)
					return
				}
				port := int32(443)
				if ref.Port != nil {
					port = *ref.Port
				}
				if len(service.Spec.Ports) != 1 || service.Spec.Ports[0].Port != port ||
					service.Spec.Ports[0].TargetPort.String() != "webhook" || webhookPort != 9443 {
					t.Errorf("webhook %s: Service port %d does not lead to the controller's webhook port 9443: %+v", name, port, service.Spec.Ports)
				}
			}

			mutating := into[admissionregistrationv1.MutatingWebhookConfiguration](t, one(t, objects, "MutatingWebhookConfiguration"))
			if len(mutating.Webhooks) != 2 {
				t.Fatalf("want the pod and PVC webhooks, got %d", len(mutating.Webhooks))
			}
			for _, w := range mutating.Webhooks {
				if w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Ignore {
					t.Errorf("mutating webhook %s must fail open (failurePolicy Ignore), has %v", w.Name, w.FailurePolicy)
				}
				if w.TimeoutSeconds == nil || *w.TimeoutSeconds > 5 {
					t.Errorf("mutating webhook %s: timeout %v, want at most 5 s", w.Name, w.TimeoutSeconds)
				}
				if w.ObjectSelector == nil {
					t.Errorf("mutating webhook %s selects every object; DESIGN §6 limits it to CNPG's", w.Name)
				}
				checkService(w.Name, w.ClientConfig.Service)
			}
			pods := mutating.Webhooks[0]
			if pods.Name != "pods.pgstorage.io" || pods.ObjectSelector.MatchLabels["cnpg.io/podRole"] != "instance" {
				t.Errorf("pod webhook must select cnpg.io/podRole=instance: %s %+v", pods.Name, pods.ObjectSelector)
			}
			pvcs := mutating.Webhooks[1]
			if pvcs.Name != "pvcs.pgstorage.io" || len(pvcs.ObjectSelector.MatchExpressions) == 0 ||
				pvcs.ObjectSelector.MatchExpressions[0].Key != "cnpg.io/pvcRole" {
				t.Errorf("PVC webhook must select PVCs with cnpg.io/pvcRole: %s %+v", pvcs.Name, pvcs.ObjectSelector)
			}

			validating := into[admissionregistrationv1.ValidatingWebhookConfiguration](t, one(t, objects, "ValidatingWebhookConfiguration"))
			for _, w := range validating.Webhooks {
				if w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Fail {
					t.Errorf("policy webhook %s must fail closed", w.Name)
				}
				checkService(w.Name, w.ClientConfig.Service)
			}

			args := deployment.Spec.Template.Spec.Containers[0].Args
			for flag, want := range map[string]string{
				"--mutating-webhook-name":    mutating.Name,
				"--validating-webhook-name":  validating.Name,
				"--webhook-service-name":     service.Name,
				"--webhook-secret-namespace": set.namespace,
			} {
				if got, _ := argValue(args, flag); got != want {
					t.Errorf("controller %s=%q, want %q", flag, got, want)
				}
			}
		})
	}
}

// TestCertificates: the Secret the controller serves from exists and is
// mounted where --cert-dir points; with cert-manager, cert-manager writes it
// and injects caBundle into both configurations.
func TestCertificates(t *testing.T) {
	for _, set := range valueSets() {
		t.Run(set.name, func(t *testing.T) {
			objects := render(t, set.namespace, set.values)
			deployment := into[appsv1.Deployment](t, one(t, objects, "Deployment"))
			container := deployment.Spec.Template.Spec.Containers[0]
			secretName, _ := argValue(container.Args, "--webhook-secret-name")
			certDir, _ := argValue(container.Args, "--cert-dir")
			mounted := false
			for _, v := range deployment.Spec.Template.Spec.Volumes {
				if v.Secret == nil || v.Secret.SecretName != secretName {
					continue
				}
				for _, m := range container.VolumeMounts {
					mounted = mounted || (m.Name == v.Name && m.MountPath == certDir && m.ReadOnly)
				}
			}
			if secretName == "" || !mounted {
				t.Errorf("Secret %q is not mounted read-only at --cert-dir %q", secretName, certDir)
			}
			env := map[string]string{}
			for _, e := range container.Env {
				if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
					env[e.Name] = e.ValueFrom.FieldRef.FieldPath
				}
			}
			if env["POD_NAMESPACE"] != "metadata.namespace" {
				t.Errorf("POD_NAMESPACE must come from the downward API, env: %v", container.Env)
			}

			certManager := set.values["certManager"] != nil
			_, certManagerFlag := flagSet(container.Args, "--cert-manager")
			secrets := ofKind(objects, "Secret")
			certificates := ofKind(objects, "Certificate")
			if !certManager {
				if certManagerFlag || len(certificates) != 0 {
					t.Errorf("built-in rotator: no --cert-manager and no Certificate expected")
				}
				if len(secrets) != 1 || secrets[0].GetName() != secretName || secrets[0].Object["data"] != nil {
					t.Errorf("the rotator fills but does not create the Secret: want one empty Secret %q, got %v", secretName, secrets)
				}
				return
			}
			if !certManagerFlag || len(secrets) != 0 {
				t.Fatalf("cert-manager: want --cert-manager and no Secret; got flag %v, %d Secrets", certManagerFlag, len(secrets))
			}
			var certificate *unstructured.Unstructured
			for _, c := range certificates {
				if got, _, _ := unstructuredString(c.Object, "spec", "secretName"); got == secretName {
					certificate = c
				}
			}
			if certificate == nil {
				t.Fatalf("no Certificate writes Secret %q, which the controller reads", secretName)
			}
			dnsNames, _, _ := unstructuredStrings(certificate.Object, "spec", "dnsNames")
			wantDNS := releaseName + "-webhook." + set.namespace + ".svc"
			if !slices.Contains(dnsNames, wantDNS) {
				t.Errorf("Certificate dnsNames %v lack %s", dnsNames, wantDNS)
			}
			wantInject := set.namespace + "/" + certificate.GetName()
			for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
				if got := one(t, objects, kind).GetAnnotations()["cert-manager.io/inject-ca-from"]; got != wantInject {
					t.Errorf("%s inject-ca-from %q, want %q", kind, got, wantInject)
				}
			}
		})
	}
}

// TestCertManagerChainKeepsTheCA: without an issuerRef the chart builds
// cert-manager's documented CA chain (self-signed Issuer -> CA Certificate
// -> CA Issuer -> serving Certificate), so renewing the serving certificate
// (a new key every time) never changes the CA that caBundle holds. A
// self-signed serving certificate would be its own CA: every renewal would
// change it while caBundle lags, and the fail-open pod webhook would skip
// injections unseen. The CA keeps its key across its own renewals, so a
// renewed CA still verifies the certificates the old one signed.
func TestCertManagerChainKeepsTheCA(t *testing.T) {
	objects := render(t, releaseNamespace, map[string]any{"certManager": map[string]any{"enabled": true}})
	issuers := map[string]*unstructured.Unstructured{}
	for _, o := range ofKind(objects, "Issuer") {
		issuers[o.GetName()] = o
	}
	certificates := map[string]*unstructured.Unstructured{}
	for _, o := range ofKind(objects, "Certificate") {
		secret, _, _ := unstructuredString(o.Object, "spec", "secretName")
		certificates[secret] = o
	}
	issuerOf := func(c *unstructured.Unstructured) *unstructured.Unstructured {
		name, _, _ := unstructuredString(c.Object, "spec", "issuerRef", "name")
		kind, _, _ := unstructuredString(c.Object, "spec", "issuerRef", "kind")
		if kind != "Issuer" || issuers[name] == nil {
			t.Fatalf("Certificate %s is issued by %s %q, not by an Issuer of the chart", c.GetName(), kind, name)
		}
		return issuers[name]
	}
	serving := certificates[releaseName+"-webhook-tls"]
	if serving == nil {
		t.Fatalf("no serving Certificate for Secret %s-webhook-tls; Certificates by Secret: %v", releaseName, keys(certificates))
	}
	if isCA, _, _ := unstructured.NestedBool(serving.Object, "spec", "isCA"); isCA {
		t.Errorf("the serving Certificate must not be a CA")
	}
	caIssuer := issuerOf(serving)
	caSecret, found, _ := unstructuredString(caIssuer.Object, "spec", "ca", "secretName")
	if !found {
		t.Fatalf("the serving Certificate's Issuer %s is not a CA Issuer: %v", caIssuer.GetName(), caIssuer.Object["spec"])
	}
	ca := certificates[caSecret]
	if ca == nil {
		t.Fatalf("no Certificate writes the CA Secret %s", caSecret)
	}
	if isCA, _, _ := unstructured.NestedBool(ca.Object, "spec", "isCA"); !isCA {
		t.Errorf("Certificate %s (the CA) lacks isCA: true", ca.GetName())
	}
	if policy, _, _ := unstructuredString(ca.Object, "spec", "privateKey", "rotationPolicy"); policy != "Never" {
		t.Errorf("the CA's privateKey.rotationPolicy is %q, want Never: a renewed CA must keep its key", policy)
	}
	root := issuerOf(ca)
	if _, found, _ := unstructured.NestedMap(root.Object, "spec", "selfSigned"); !found {
		t.Errorf("the CA Certificate's Issuer %s is not self-signed: %v", root.GetName(), root.Object["spec"])
	}
	want := releaseNamespace + "/" + serving.GetName()
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		if got := one(t, objects, kind).GetAnnotations()["cert-manager.io/inject-ca-from"]; got != want {
			t.Errorf("%s inject-ca-from %q, want the serving Certificate %q (cert-manager injects its ca.crt: the CA)", kind, got, want)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestContainersAreNonRootAndReadOnly: every container of the chart meets
// the restricted Pod Security Standard and writes nothing to its image.
func TestContainersAreNonRootAndReadOnly(t *testing.T) {
	for _, set := range valueSets() {
		t.Run(set.name, func(t *testing.T) {
			objects := render(t, set.namespace, set.values)
			deployments := ofKind(objects, "Deployment")
			if len(deployments) == 0 {
				t.Fatal("no Deployment rendered")
			}
			for _, o := range deployments {
				d := into[appsv1.Deployment](t, o)
				pod := d.Spec.Template.Spec
				psc := pod.SecurityContext
				if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
					psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("%s: pod securityContext must run as a non-root UID with RuntimeDefault seccomp: %+v", d.Name, psc)
				}
				if pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken {
					t.Errorf("%s: the controller needs its ServiceAccount token", d.Name)
				}
				for _, c := range append(pod.InitContainers, pod.Containers...) {
					sc := c.SecurityContext
					switch {
					case sc == nil:
						t.Errorf("%s/%s: no securityContext", d.Name, c.Name)
					case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
						t.Errorf("%s/%s: root filesystem must be read-only", d.Name, c.Name)
					case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
						t.Errorf("%s/%s: allowPrivilegeEscalation must be false", d.Name, c.Name)
					case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0:
						t.Errorf("%s/%s: must drop ALL capabilities and add none: %+v", d.Name, c.Name, sc.Capabilities)
					case sc.Privileged != nil && *sc.Privileged:
						t.Errorf("%s/%s: privileged", d.Name, c.Name)
					case sc.RunAsUser != nil && *sc.RunAsUser == 0:
						t.Errorf("%s/%s: runs as root", d.Name, c.Name)
					}
					if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
						t.Errorf("%s/%s: set CPU requests and memory limits: %+v", d.Name, c.Name, c.Resources)
					}
					if c.LivenessProbe == nil || c.ReadinessProbe == nil {
						t.Errorf("%s/%s: needs liveness and readiness probes", d.Name, c.Name)
					}
				}
			}
			if want := set.values["replicaCount"]; want == nil {
				d := into[appsv1.Deployment](t, deployments[0])
				if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
					t.Errorf("default replicas %v, want 2 (DESIGN §7)", d.Spec.Replicas)
				}
				if _, elected := argValue(d.Spec.Template.Spec.Containers[0].Args, "--leader-elect"); !elected {
					t.Error("two replicas need --leader-elect")
				}
				one(t, objects, "PodDisruptionBudget")
			}
		})
	}
}

// TestSidecarImage: the sidecar image value reaches the controller's
// --sidecar-image, and the controller image its container.
func TestImages(t *testing.T) {
	objects := render(t, "storage-ops", valueSets()[4].values)
	d := into[appsv1.Deployment](t, one(t, objects, "Deployment"))
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "registry.example/pgstorage/controller:abc1234" || c.ImagePullPolicy != corev1.PullNever {
		t.Errorf("controller image %s (%s)", c.Image, c.ImagePullPolicy)
	}
	if got, _ := argValue(c.Args, "--sidecar-image"); got != "registry.example/pgstorage/sidecar:abc1234" {
		t.Errorf("--sidecar-image=%s", got)
	}
	if d.Spec.Template.Spec.ServiceAccountName != "autoscaler" {
		t.Errorf("ServiceAccount %s", d.Spec.Template.Spec.ServiceAccountName)
	}
}

// TestAdmissionPoliciesNameThisController: the ValidatingAdmissionPolicies
// of deploy/admission name the controller by its username, which depends on
// the release; each is bound with Deny.
func TestAdmissionPoliciesNameThisController(t *testing.T) {
	const defaultUser = "system:serviceaccount:pgstorage-system:cnpg-storage-autoscaler"
	for _, set := range valueSets() {
		t.Run(set.name, func(t *testing.T) {
			objects := render(t, set.namespace, set.values)
			sa := into[corev1.ServiceAccount](t, one(t, objects, "ServiceAccount"))
			user := "system:serviceaccount:" + set.namespace + ":" + sa.Name
			bindings := map[string]*admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
			for _, o := range ofKind(objects, "ValidatingAdmissionPolicyBinding") {
				b := into[admissionregistrationv1.ValidatingAdmissionPolicyBinding](t, o)
				bindings[b.Spec.PolicyName] = b
			}
			names := map[string]bool{}
			for _, o := range ofKind(objects, "ValidatingAdmissionPolicy") {
				vap := into[admissionregistrationv1.ValidatingAdmissionPolicy](t, o)
				names[vap.Name] = true
				named := false
				for _, c := range vap.Spec.MatchConditions {
					named = named || strings.Contains(c.Expression, "'"+user+"'")
					if user != defaultUser && strings.Contains(c.Expression, defaultUser) {
						t.Errorf("policy %s still names the default install's controller: %s", vap.Name, c.Expression)
					}
				}
				if !named {
					t.Errorf("policy %s does not name the controller %s: %+v", vap.Name, user, vap.Spec.MatchConditions)
				}
				b := bindings[vap.Name]
				if b == nil || !slices.Equal(b.Spec.ValidationActions, []admissionregistrationv1.ValidationAction{"Deny"}) {
					t.Errorf("policy %s is not bound with Deny: %+v", vap.Name, b)
				}
			}
			if !names["pgstorage-observation-ownership"] {
				t.Errorf("the observation-ownership policy is missing; rendered %v", names)
			}
		})
	}
}

// TestControllerAcceptsItsArguments runs the real controller binary with the
// rendered arguments (and --help, so it stops after parsing): a renamed or
// mistyped flag fails here, not in a crash-looping pod.
func TestControllerAcceptsItsArguments(t *testing.T) {
	binary := filepath.Join(t.TempDir(), "controller")
	build := exec.Command("go", "build", "-o", binary, "./cmd/controller")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/controller: %v\n%s", err, out)
	}
	for _, set := range valueSets() {
		t.Run(set.name, func(t *testing.T) {
			d := into[appsv1.Deployment](t, one(t, render(t, set.namespace, set.values), "Deployment"))
			args := d.Spec.Template.Spec.Containers[0].Args
			cmd := exec.Command(binary, append(slices.Clone(args), "--help")...)
			cmd.Env = append(os.Environ(), "POD_NAMESPACE="+set.namespace)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("controller %v: %v\n%s", args, err, lastLines(string(out), 5))
			}
		})
	}
}

// --- RBAC ---

// permission is one verb on one resource of one API group.
type permission struct{ group, resource, verb string }

// markerPattern reads controllers/policy's kubebuilder RBAC markers.
var markerPattern = regexp.MustCompile(`^// \+kubebuilder:rbac:groups=([^,]*),resources=([^,]+),verbs=(\S+)$`)

// controllerPermissions are what the controller's code asks for: the RBAC
// markers of controllers/policy/reconciler.go, plus what controllers/admission,
// controllers/writers and controllers/restarts do (they have no markers; their
// package docs say why each is needed).
// namespaced are those the controller uses only in its own namespace.
func controllerPermissions(t *testing.T) (clusterWide, namespaced map[permission]bool) {
	t.Helper()
	clusterWide, namespaced = map[permission]bool{}, map[permission]bool{}
	add := func(into map[permission]bool, group string, resources, verbs []string) {
		for _, r := range resources {
			for _, v := range verbs {
				into[permission{group, r, v}] = true
			}
		}
	}
	file, err := os.Open(filepath.Join(testenv.RepoRoot(), "controllers", "policy", "reconciler.go"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	markers := 0
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		m := markerPattern.FindStringSubmatch(strings.TrimSpace(scanner.Text()))
		if m == nil {
			continue
		}
		markers++
		group := strings.Trim(m[1], `"`)
		into := clusterWide
		if group == "coordination.k8s.io" {
			into = namespaced // leader election, in the controller's namespace
		}
		add(into, group, strings.Split(m[2], ";"), strings.Split(m[3], ";"))
	}
	if markers < 5 {
		t.Fatalf("found %d RBAC markers in controllers/policy/reconciler.go; has their format changed?", markers)
	}
	// The observation-writer Roles: managed per namespace, read live.
	add(clusterWide, "rbac.authorization.k8s.io", []string{"roles", "rolebindings"}, []string{"get", "create", "update", "delete"})
	// RBAC lets the controller grant only what it holds itself.
	for _, rule := range writers.Rules() {
		for _, g := range rule.APIGroups {
			add(clusterWide, g, rule.Resources, rule.Verbs)
		}
	}
	// The certificate rotator watches both configurations and writes caBundle.
	add(clusterWide, "admissionregistration.k8s.io",
		[]string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"}, []string{"get", "list", "watch", "update"})
	// The sidecar-restart reconciler annotates Clusters.
	add(clusterWide, "postgresql.cnpg.io", []string{"clusters"}, []string{"get", "list", "watch", "patch"})
	// The rotator's Secret, in the release namespace only.
	add(namespaced, "", []string{"secrets"}, []string{"get", "list", "watch", "update"})
	return clusterWide, namespaced
}

// granted flattens rules into permissions, failing on any wildcard.
func granted(t *testing.T, where string, rules []rbacv1.PolicyRule) map[permission]bool {
	t.Helper()
	out := map[permission]bool{}
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 {
			t.Errorf("%s grants non-resource URLs %v", where, r.NonResourceURLs)
		}
		for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames} {
			for _, s := range list {
				if strings.Contains(s, "*") {
					t.Errorf("%s has a wildcard in %+v", where, r)
				}
			}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out[permission{g, res, v}] = true
				}
			}
		}
	}
	return out
}

func compare(t *testing.T, where string, got, want map[permission]bool) {
	t.Helper()
	for p := range got {
		if !want[p] {
			t.Errorf("%s grants %q on %s (group %q), which the controller does not use", where, p.verb, p.resource, p.group)
		}
	}
	for p := range want {
		if !got[p] {
			t.Errorf("%s lacks %q on %s (group %q), which the controller needs", where, p.verb, p.resource, p.group)
		}
	}
}

// TestRBACIsLeastPrivilege: no wildcard; cluster-wide exactly what the code
// uses; Secrets and Leases only in the release namespace; webhook
// configurations writable by name only; bindings to this ServiceAccount only.
func TestRBACIsLeastPrivilege(t *testing.T) {
	wantCluster, wantNamespaced := controllerPermissions(t)
	for _, set := range valueSets() {
		t.Run(set.name, func(t *testing.T) {
			objects := render(t, set.namespace, set.values)
			sa := into[corev1.ServiceAccount](t, one(t, objects, "ServiceAccount"))
			clusterRole := into[rbacv1.ClusterRole](t, one(t, objects, "ClusterRole"))
			role := into[rbacv1.Role](t, one(t, objects, "Role"))
			compare(t, "ClusterRole "+clusterRole.Name, granted(t, "ClusterRole", clusterRole.Rules), wantCluster)
			compare(t, "Role "+role.Name, granted(t, "Role", role.Rules), wantNamespaced)
			if role.Namespace != set.namespace {
				t.Errorf("Role in %q, want the release namespace %q", role.Namespace, set.namespace)
			}

			// pods patch (kubelet nudge) only with the policy that narrows it
			// to the pgstorage.io/resize-nudge annotation.
			if granted(t, "ClusterRole", clusterRole.Rules)[permission{"", "pods", "patch"}] {
				if !narrowsPodWrites(t, objects, "system:serviceaccount:"+set.namespace+":"+sa.Name) {
					t.Error("the ClusterRole grants pods patch without a ValidatingAdmissionPolicy that limits the controller's pod writes")
				}
			}

			// PVCs and Clusters patch only with the policies that narrow them
			// to growing storage (and the restart annotation).
			user := "system:serviceaccount:" + set.namespace + ":" + sa.Name
			for _, narrow := range []struct{ group, resource, policy string }{
				{"", "persistentvolumeclaims", "pgstorage-pvc-growth"},
				{"postgresql.cnpg.io", "clusters", "pgstorage-cluster-storage"},
				{"rbac.authorization.k8s.io", "roles", "pgstorage-observation-writer-rbac"},
				{"rbac.authorization.k8s.io", "rolebindings", "pgstorage-observation-writer-rbac"},
			} {
				if !policyNarrows(t, objects, narrow.policy, narrow.group, narrow.resource, user) {
					t.Errorf("the ClusterRole lets the controller write %s without the %s ValidatingAdmissionPolicy (Fail, matching the controller's requests)",
						narrow.resource, narrow.policy)
				}
			}
			// Roles and RoleBindings: RBAC cannot limit create by name (the
			// name is not known when it is authorized), so create stands alone
			// and every other verb is limited to the observation-writer name.
			for _, r := range clusterRole.Rules {
				if !slices.Contains(r.APIGroups, "rbac.authorization.k8s.io") {
					continue
				}
				named := slices.Equal(r.ResourceNames, []string{writers.Name})
				for _, v := range r.Verbs {
					if v == "create" && len(r.ResourceNames) > 0 {
						t.Errorf("create on %v with resourceNames never matches (RBAC cannot limit create by name): %+v", r.Resources, r)
					}
					if v != "create" && !named {
						t.Errorf("%s on %v must be limited to resourceNames [%s]: %+v", v, r.Resources, writers.Name, r)
					}
				}
			}

			var configurationNames []string
			for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
				configurationNames = append(configurationNames, one(t, objects, kind).GetName())
			}
			for _, r := range clusterRole.Rules {
				if !slices.Contains(r.APIGroups, "admissionregistration.k8s.io") || !slices.ContainsFunc(r.Verbs, func(v string) bool { return v == "update" || v == "get" }) {
					continue
				}
				for _, name := range r.ResourceNames {
					if !slices.Contains(configurationNames, name) {
						t.Errorf("webhook configuration rule names %q, the chart's are %v", name, configurationNames)
					}
				}
				if len(r.ResourceNames) == 0 {
					t.Errorf("get/update on webhook configurations must be limited by resourceNames: %+v", r)
				}
			}

			check := func(kind, name string, ref rbacv1.RoleRef, subjects []rbacv1.Subject, wantRef string) {
				if ref.Name != wantRef || len(subjects) != 1 || subjects[0].Kind != "ServiceAccount" ||
					subjects[0].Name != sa.Name || subjects[0].Namespace != set.namespace {
					t.Errorf("%s %s binds %+v to %+v; want %s to ServiceAccount %s/%s", kind, name, ref, subjects, wantRef, set.namespace, sa.Name)
				}
			}
			for _, o := range ofKind(objects, "ClusterRoleBinding") {
				b := into[rbacv1.ClusterRoleBinding](t, o)
				check("ClusterRoleBinding", b.Name, b.RoleRef, b.Subjects, clusterRole.Name)
			}
			for _, o := range ofKind(objects, "RoleBinding") {
				b := into[rbacv1.RoleBinding](t, o)
				check("RoleBinding", b.Name, b.RoleRef, b.Subjects, role.Name)
			}
		})
	}
}

// narrowsPodWrites: a ValidatingAdmissionPolicy matches UPDATE of pods by the
// controller, is bound with Deny, and compares the pod's spec and labels
// with the old ones.
func narrowsPodWrites(t *testing.T, objects []*unstructured.Unstructured, user string) bool {
	t.Helper()
	for _, o := range ofKind(objects, "ValidatingAdmissionPolicy") {
		vap := into[admissionregistrationv1.ValidatingAdmissionPolicy](t, o)
		matchesPods := false
		for _, r := range vap.Spec.MatchConstraints.ResourceRules {
			matchesPods = matchesPods || slices.Contains(r.Resources, "pods")
		}
		byController := false
		for _, c := range vap.Spec.MatchConditions {
			byController = byController || strings.Contains(c.Expression, "== '"+user+"'")
		}
		var checks string
		for _, v := range vap.Spec.Validations {
			checks += v.Expression + "\n"
		}
		if matchesPods && byController && strings.Contains(checks, "object.spec == oldObject.spec") &&
			strings.Contains(checks, "labels") && vap.Spec.FailurePolicy != nil && *vap.Spec.FailurePolicy == admissionregistrationv1.Fail {
			return true
		}
	}
	return false
}

// policyNarrows: the named ValidatingAdmissionPolicy is rendered, fails
// closed, matches the resource, and matches the controller's requests only;
// deploy/admission's own tests prove what it allows on the API server.
func policyNarrows(t *testing.T, objects []*unstructured.Unstructured, name, group, resource, user string) bool {
	t.Helper()
	for _, o := range ofKind(objects, "ValidatingAdmissionPolicy") {
		vap := into[admissionregistrationv1.ValidatingAdmissionPolicy](t, o)
		if vap.Name != name || vap.Spec.FailurePolicy == nil || *vap.Spec.FailurePolicy != admissionregistrationv1.Fail {
			continue
		}
		matches := false
		for _, r := range vap.Spec.MatchConstraints.ResourceRules {
			matches = matches || (slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource))
		}
		byController := false
		for _, c := range vap.Spec.MatchConditions {
			byController = byController || strings.Contains(c.Expression, "== '"+user+"'")
		}
		return matches && byController && len(vap.Spec.Validations) > 0
	}
	return false
}

// --- small helpers ---

func findNamed(t *testing.T, objects []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range ofKind(objects, kind) {
		if o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

func containerPort(t *testing.T, d *appsv1.Deployment, name string) int32 {
	t.Helper()
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("controller container has no port %q", name)
	return 0
}

func flagSet(args []string, flag string) (string, bool) {
	if slices.Contains(args, flag) {
		return "true", true
	}
	return argValue(args, flag)
}

func unstructuredString(obj map[string]any, fields ...string) (string, bool, error) {
	return unstructured.NestedString(obj, fields...)
}

func unstructuredStrings(obj map[string]any, fields ...string) ([]string, bool, error) {
	return unstructured.NestedStringSlice(obj, fields...)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
