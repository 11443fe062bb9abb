package admission

import (
	"strings"
	"testing"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv/cnpgtest"
)

// Pure tests of the decisions; the webhooks themselves are tested on the
// real API server in the other files.

func TestInjectRules(t *testing.T) {
	cfg := DefaultSidecarConfig(testSidecarImage)
	shape := cnpgtest.Shape{WAL: true}
	base := func(t *testing.T) *corev1.Pod {
		return cnpgtest.InstancePod(t, cnpgtest.NewCluster("db", "orders", shape))
	}
	policy := cnpgtest.NewPolicy("db", "orders", "orders", shape)
	cases := []struct {
		name       string
		pod        func(t *testing.T) *corev1.Pod
		cluster    *cnpgv1.Cluster
		policy     *v1alpha1.StorageAutoscalePolicy
		cfg        SidecarConfig
		wantInject bool
		wantReason string
		check      func(t *testing.T, out *corev1.Pod, d Decision)
	}{
		{name: "no policy: left alone", pod: base, wantReason: "has no StorageAutoscalePolicy"},
		{name: "a policy for another cluster: left alone", pod: base, policy: cnpgtest.NewPolicy("db", "x", "other", shape), wantReason: "is for cluster other"},
		{name: "not an instance pod: left alone", policy: policy, wantReason: "not a CNPG instance pod", pod: func(t *testing.T) *corev1.Pod {
			p := base(t)
			p.Labels[instanceRoleLabel] = "job"
			return p
		}},
		{name: "no image configured: left alone", pod: base, policy: policy, cfg: SidecarConfig{}, wantReason: "no sidecar image"},
		{name: "an injected pod is left alone (idempotent)", policy: policy, wantReason: "already has", pod: func(t *testing.T) *corev1.Pod {
			out, _ := Inject(base(t), nil, policy, cfg)
			return out
		}},
		{name: "no postgres volume: left alone", policy: policy, wantReason: "mounts no PostgreSQL volume", pod: func(t *testing.T) *corev1.Pod {
			p := base(t)
			p.Spec.Containers[0].VolumeMounts = nil
			return p
		}},
		{name: "injected after bootstrap-controller", pod: base, policy: policy, wantInject: true,
			check: func(t *testing.T, out *corev1.Pod, d Decision) {
				if d.Index != 1 || out.Spec.InitContainers[1].Name != SidecarName {
					t.Errorf("index %d, init containers %v", d.Index, containerNames(out.Spec.InitContainers))
				}
			}},
		{name: "without bootstrap-controller it goes last among init containers", policy: policy, wantInject: true,
			pod: func(t *testing.T) *corev1.Pod {
				p := base(t)
				p.Spec.InitContainers = append([]corev1.Container{{Name: "first"}}, corev1.Container{Name: "second"})
				return p
			},
			check: func(t *testing.T, out *corev1.Pod, d Decision) {
				if got := strings.Join(containerNames(out.Spec.InitContainers), ","); got != "first,second,"+SidecarName {
					t.Errorf("init containers %s", got)
				}
			}},
		{name: "the postgres container's UID wins over the pod's and the Cluster's", policy: policy, wantInject: true,
			cluster: func() *cnpgv1.Cluster {
				c := cnpgtest.NewCluster("db", "orders", shape)
				c.Spec.PostgresUID = 7
				return c
			}(),
			pod: func(t *testing.T) *corev1.Pod {
				p := base(t)
				p.Spec.SecurityContext.RunAsUser = ptr.To[int64](500)
				p.Spec.Containers[0].SecurityContext.RunAsUser = ptr.To[int64](600)
				return p
			},
			check: func(t *testing.T, out *corev1.Pod, d Decision) {
				if uid := *d.Sidecar.SecurityContext.RunAsUser; uid != 600 {
					t.Errorf("UID %d, want 600", uid)
				}
			}},
		{name: "the Cluster's postgresUID when the pod says nothing", policy: policy, wantInject: true,
			cluster: func() *cnpgv1.Cluster {
				c := cnpgtest.NewCluster("db", "orders", shape)
				c.Spec.PostgresUID, c.Spec.PostgresGID = 7, 8
				return c
			}(),
			pod: func(t *testing.T) *corev1.Pod {
				p := base(t)
				p.Spec.SecurityContext = nil
				return p
			},
			check: func(t *testing.T, out *corev1.Pod, d Decision) {
				if sc := d.Sidecar.SecurityContext; *sc.RunAsUser != 7 || *sc.RunAsGroup != 8 {
					t.Errorf("UID/GID %d/%d, want 7/8", *sc.RunAsUser, *sc.RunAsGroup)
				}
			}},
		{name: "the ServiceAccount token mount is shared with the sidecar", policy: policy, wantInject: true,
			pod: func(t *testing.T) *corev1.Pod {
				p := base(t)
				p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts,
					corev1.VolumeMount{Name: "kube-api-access-x", MountPath: serviceAccountMountPath, ReadOnly: true})
				return p
			},
			check: func(t *testing.T, out *corev1.Pod, d Decision) {
				if m, ok := mountAt(d.Sidecar, serviceAccountMountPath); !ok || m.Name != "kube-api-access-x" || !m.ReadOnly {
					t.Errorf("token mount %+v %v", m, ok)
				}
			}},
		{name: "a user's extra PVC mount is not measured", policy: policy, wantInject: true,
			pod: func(t *testing.T) *corev1.Pod {
				p := base(t)
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "extra", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "extra"}}})
				p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "extra", MountPath: "/extra"})
				return p
			},
			check: func(t *testing.T, out *corev1.Pod, d Decision) {
				if _, ok := mountAt(d.Sidecar, "/extra"); ok {
					t.Errorf("the sidecar mounts a volume that is not PostgreSQL's")
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			if c.Image == "" && !strings.Contains(tc.name, "no image") {
				c = cfg
			}
			in := tc.pod(t)
			snapshot := toJSON(t, in)
			out, d := Inject(in, tc.cluster, tc.policy, c)
			if toJSON(t, in) != snapshot {
				t.Fatalf("Inject modified its input")
			}
			if (d.Sidecar != nil) != tc.wantInject {
				t.Fatalf("inject %v (%s), want %v", d.Sidecar != nil, d.Reason, tc.wantInject)
			}
			if tc.wantReason != "" && !strings.Contains(d.Reason, tc.wantReason) {
				t.Errorf("reason %q, want it to contain %q", d.Reason, tc.wantReason)
			}
			if !tc.wantInject && out != in {
				t.Errorf("a pod left alone must come back as it is")
			}
			if tc.check != nil {
				tc.check(t, out, d)
			}
		})
	}
}

func TestEffectiveSizeRules(t *testing.T) {
	limited := func(mutate func(p *v1alpha1.StorageAutoscalePolicy)) *v1alpha1.StorageAutoscalePolicy {
		p := cnpgtest.NewPolicy("db", "p", "orders", cnpgtest.Shape{WAL: true, Tablespaces: []string{"idx"}})
		p.Spec.Volumes.Data.Limit = ptr.To(resource.MustParse("50Gi"))
		p.Status.EffectiveSizes = v1alpha1.EffectiveSizes{
			Data: ptr.To(resource.MustParse("10Gi")), Tablespaces: map[string]resource.Quantity{"idx": resource.MustParse("3Gi")},
		}
		if mutate != nil {
			mutate(p)
		}
		return p
	}
	policy := limited(nil)
	pvc := func(name, role, tablespace, request string) *corev1.PersistentVolumeClaim {
		labels := map[string]string{pvcRoleLabel: role, clusterLabel: "orders"}
		if tablespace != "" {
			labels[tablespaceNameLabel] = tablespace
		}
		return cnpgPVC("db", name, labels, request)
	}
	perInstance := limited(func(p *v1alpha1.StorageAutoscalePolicy) {
		p.Spec.Sizing = v1alpha1.SizingPerInstance
		p.Status.Volumes = []v1alpha1.VolumeStatus{
			{PVC: "orders-1", Instance: "orders-1", Role: v1alpha1.RoleData, Requested: ptr.To(resource.MustParse("4Gi"))},
			{PVC: "orders-2", Instance: "orders-2", Role: v1alpha1.RoleData, Requested: ptr.To(resource.MustParse("10Gi"))},
			{PVC: "orders-2-wal", Instance: "orders-2", Role: v1alpha1.RoleWAL, Requested: ptr.To(resource.MustParse("9Gi"))},
		}
	})
	cases := []struct {
		name   string
		pvc    *corev1.PersistentVolumeClaim
		policy *v1alpha1.StorageAutoscalePolicy
		want   string // "" = unchanged
		reason string // part of the reason, when set
	}{
		{"data below the effective size is raised", pvc("x", pvcRoleData, "", "1Gi"), policy, "10Gi", ""},
		{"data at the effective size stays", pvc("x", pvcRoleData, "", "10Gi"), policy, "", ""},
		{"data above the effective size is never lowered", pvc("x", pvcRoleData, "", "20Gi"), policy, "", ""},
		{"WAL without an effective size yet stays", pvc("x", pvcRoleWAL, "", "1Gi"), policy, "", ""},
		{"a tablespace is sized by its name", pvc("x", pvcRoleTablespace, "idx", "1Gi"), policy, "3Gi", ""},
		{"another tablespace's size does not apply", pvc("x", pvcRoleTablespace, "other", "1Gi"), policy, "", ""},
		{"no policy: unchanged", pvc("x", pvcRoleData, "", "1Gi"), nil, "", ""},
		{"an unknown role: unchanged", pvc("x", "PG_SOMETHING", "", "1Gi"), policy, "", ""},

		{"DryRun: a new PVC keeps CNPG's request", pvc("x", pvcRoleData, "", "1Gi"),
			limited(func(p *v1alpha1.StorageAutoscalePolicy) { p.Spec.Mode = v1alpha1.ModeDryRun }), "", "DryRun"},
		{"the raise stops at the role's limit", pvc("x", pvcRoleData, "", "1Gi"),
			limited(func(p *v1alpha1.StorageAutoscalePolicy) {
				p.Spec.Volumes.Data.Limit = ptr.To(resource.MustParse("6Gi"))
			}), "6Gi", "limit"},
		{"a tablespace's raise stops at its byName limit", pvc("x", pvcRoleTablespace, "idx", "1Gi"),
			limited(func(p *v1alpha1.StorageAutoscalePolicy) {
				p.Spec.Volumes.Tablespaces.ByName = map[string]v1alpha1.VolumePolicy{"idx": {Limit: ptr.To(resource.MustParse("2Gi"))}}
			}), "2Gi", "limit"},
		{"a request above the limit is not lowered to it", pvc("x", pvcRoleData, "", "8Gi"),
			limited(func(p *v1alpha1.StorageAutoscalePolicy) {
				p.Spec.Volumes.Data.Limit = ptr.To(resource.MustParse("6Gi"))
			}), "", ""},
		{"a role without a limit is left alone", pvc("x", pvcRoleData, "", "1Gi"),
			limited(func(p *v1alpha1.StorageAutoscalePolicy) { p.Spec.Volumes.Data.Limit = nil }), "", "limit"},
		{"a role with growth disabled is left alone", pvc("x", pvcRoleData, "", "1Gi"),
			limited(func(p *v1alpha1.StorageAutoscalePolicy) { p.Spec.Volumes.Data.Enabled = ptr.To(false) }), "", "disabled"},

		{"PerInstance: a re-created PVC takes its own instance's recorded size", pvc("orders-1", pvcRoleData, "", "1Gi"), perInstance, "4Gi", "PerInstance"},
		{"PerInstance: never the size of a peer", pvc("orders-3", pvcRoleData, "", "1Gi"), perInstance, "", "PerInstance"},
		{"PerInstance: a WAL PVC takes its own WAL row, clamped to the WAL limit", pvc("orders-2-wal", pvcRoleWAL, "", "1Gi"), perInstance, "5Gi", "limit"},
		{"PerInstance: the own size is clamped to the limit too", pvc("orders-2", pvcRoleData, "", "1Gi"),
			limited(func(p *v1alpha1.StorageAutoscalePolicy) {
				p.Spec.Sizing = v1alpha1.SizingPerInstance
				p.Spec.Volumes.Data.Limit = ptr.To(resource.MustParse("7Gi"))
				p.Status.Volumes = perInstance.Status.Volumes
			}), "7Gi", "limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			size, ok, reason := EffectiveSize(tc.pvc, tc.policy)
			if got := map[bool]string{true: size.String(), false: ""}[ok]; got != tc.want {
				t.Errorf("got %q (%s), want %q", got, reason, tc.want)
			}
			if !strings.Contains(reason, tc.reason) {
				t.Errorf("reason %q, want it to mention %q", reason, tc.reason)
			}
		})
	}
}

func TestValidatePolicyRules(t *testing.T) {
	withWAL := cnpgtest.NewCluster("db", "orders", cnpgtest.Shape{WAL: true, Tablespaces: []string{"idx"}})
	single := cnpgtest.NewCluster("db", "orders", cnpgtest.Shape{})
	good := func() *v1alpha1.StorageAutoscalePolicy {
		return cnpgtest.NewPolicy("db", "orders", "orders", cnpgtest.Shape{WAL: true, Tablespaces: []string{"idx"}})
	}
	cases := []struct {
		name        string
		policy      func() *v1alpha1.StorageAutoscalePolicy
		cluster     *cnpgv1.Cluster
		others      []v1alpha1.StorageAutoscalePolicy
		wantError   string
		wantWarning string
	}{
		{name: "a complete policy passes", policy: good, cluster: withWAL},
		{name: "a missing cluster is a warning", policy: good, wantWarning: "CNPG Cluster orders does not exist in namespace db yet"},
		{name: "a tablespace needs a rule", cluster: withWAL, wantError: "spec.volumes.tablespaces is missing a rule for tablespace idx",
			policy: func() *v1alpha1.StorageAutoscalePolicy { p := good(); p.Spec.Volumes.Tablespaces = nil; return p }},
		{name: "a byName rule needs a limit", cluster: withWAL, wantError: "spec.volumes.tablespaces.byName.idx.limit is required",
			policy: func() *v1alpha1.StorageAutoscalePolicy {
				p := good()
				p.Spec.Volumes.Tablespaces.ByName = map[string]v1alpha1.VolumePolicy{"idx": {}}
				return p
			}},
		{name: "a byName rule for an absent tablespace is a warning", cluster: withWAL, wantWarning: "byName.gone matches no tablespace",
			policy: func() *v1alpha1.StorageAutoscalePolicy {
				p := good()
				p.Spec.Volumes.Tablespaces.ByName = map[string]v1alpha1.VolumePolicy{"gone": {Limit: ptr.To(resource.MustParse("1Gi"))}}
				return p
			}},
		{name: "a disabled WAL rule needs no limit", cluster: withWAL,
			policy: func() *v1alpha1.StorageAutoscalePolicy {
				p := good()
				p.Spec.Volumes.WAL = &v1alpha1.VolumePolicy{Enabled: ptr.To(false)}
				return p
			}},
		{name: "a WAL rule on a single-volume cluster is a warning", cluster: single, wantWarning: "spec.volumes.wal is ignored",
			policy: func() *v1alpha1.StorageAutoscalePolicy {
				p := cnpgtest.NewPolicy("db", "orders", "orders", cnpgtest.Shape{})
				p.Spec.Volumes.WAL = &v1alpha1.VolumePolicy{Limit: ptr.To(resource.MustParse("1Gi"))}
				return p
			}},
		{name: "a WAL limit below spec.walStorage.size", cluster: withWAL,
			wantError: "spec.volumes.wal.limit 100Mi is below cluster orders's spec.walStorage.size 1Gi: the limit is the ceiling volumes are grown to; set spec.volumes.wal.limit to at least 1Gi",
			policy: func() *v1alpha1.StorageAutoscalePolicy {
				p := good()
				p.Spec.Volumes.WAL.Limit = ptr.To(resource.MustParse("100Mi"))
				return p
			}},
		{name: "step.max 0 is unbounded, not below min", cluster: withWAL,
			policy: func() *v1alpha1.StorageAutoscalePolicy {
				p := good()
				p.Spec.Volumes.Data.Step.Min = resource.MustParse("5Gi")
				return p
			}},
		{name: "a descriptor schedule parses", cluster: withWAL,
			policy: func() *v1alpha1.StorageAutoscalePolicy {
				p := good()
				p.Spec.MaintenanceWindows = []v1alpha1.MaintenanceWindow{{Schedule: "@daily", Duration: metav1Duration("1h"), TimeZone: "Europe/Berlin"}}
				return p
			}},
		{name: "a policy being deleted does not block its successor", policy: good, cluster: withWAL,
			others: []v1alpha1.StorageAutoscalePolicy{func() v1alpha1.StorageAutoscalePolicy {
				p := cnpgtest.NewPolicy("db", "old", "orders", cnpgtest.Shape{})
				p.DeletionTimestamp = &metav1.Time{Time: time.Now()}
				return *p
			}()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := ValidatePolicy(tc.policy(), tc.cluster, tc.others)
			errs, warns := strings.Join(v.Errors, "\n"), strings.Join(v.Warnings, "\n")
			if tc.wantError == "" && errs != "" || !strings.Contains(errs, tc.wantError) {
				t.Errorf("errors %q, want %q", errs, tc.wantError)
			}
			if tc.wantWarning == "" && warns != "" || !strings.Contains(warns, tc.wantWarning) {
				t.Errorf("warnings %q, want %q", warns, tc.wantWarning)
			}
		})
	}
}
