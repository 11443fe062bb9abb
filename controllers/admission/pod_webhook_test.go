package admission

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv/cnpgtest"
)

// Pods built by CNPG's own builder go through the real API server and the
// webhook; a twin of each pod goes into a namespace without a policy, where
// nothing is injected. Everything CNPG reads on the live pod must be the
// same in both, byte for byte.
func TestPodWebhookInjectsIntoCNPGInstancePods(t *testing.T) {
	cases := []struct {
		name      string
		shape     cnpgtest.Shape
		uid       int64
		wantMount map[string]string // sidecar mount path -> pod volume
		wantEnv   string            // PGSTORAGE_VOLUMES
	}{
		{
			name: "single-volume cluster: data only", shape: cnpgtest.Shape{}, uid: 26,
			wantMount: map[string]string{"/var/lib/postgresql/data": "pgdata", "/controller/run": "scratch-data"},
			wantEnv:   "name=pgdata,role=data,pvc=orders-1,path=/var/lib/postgresql/data",
		},
		{
			name: "cluster with a WAL volume and PostgreSQL UID 1001", shape: cnpgtest.Shape{WAL: true, PostgresUID: 1001}, uid: 1001,
			wantMount: map[string]string{"/var/lib/postgresql/data": "pgdata", "/var/lib/postgresql/wal": "pg-wal", "/controller/run": "scratch-data"},
			wantEnv: "name=pgdata,role=data,pvc=orders-1,path=/var/lib/postgresql/data;" +
				"name=pg-wal,role=wal,pvc=orders-1-wal,path=/var/lib/postgresql/wal",
		},
		{
			name: "cluster with WAL and two tablespaces", shape: cnpgtest.Shape{WAL: true, Tablespaces: []string{"idx", "archive"}}, uid: 26,
			wantMount: map[string]string{
				"/var/lib/postgresql/data": "pgdata", "/var/lib/postgresql/wal": "pg-wal", "/controller/run": "scratch-data",
				"/var/lib/postgresql/tablespaces/idx": "tbs-idx", "/var/lib/postgresql/tablespaces/archive": "tbs-archive",
			},
			wantEnv: "name=pgdata,role=data,pvc=orders-1,path=/var/lib/postgresql/data;" +
				"name=pg-wal,role=wal,pvc=orders-1-wal,path=/var/lib/postgresql/wal;" +
				"name=tbs-archive,role=tablespace,pvc=orders-1-tbs-archive,path=/var/lib/postgresql/tablespaces/archive,tablespace=archive;" +
				"name=tbs-idx,role=tablespace,pvc=orders-1-tbs-idx,path=/var/lib/postgresql/tablespaces/idx,tablespace=idx",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := env.Client
			policed, plain := env.NewNamespace(t, nil), env.NewNamespace(t, nil)
			for _, ns := range []string{policed, plain} {
				must(t, c.Create(ctx, cnpgtest.NewCluster(ns, "orders", tc.shape)))
			}
			must(t, c.Create(ctx, cnpgtest.NewPolicy(policed, "orders", "orders", tc.shape)))

			sent := cnpgtest.InstancePod(t, cnpgtest.NewCluster(policed, "orders", tc.shape))
			twin := sent.DeepCopy()
			twin.Namespace = plain
			must(t, c.Create(ctx, sent.DeepCopy()))
			must(t, c.Create(ctx, twin))
			live, untouched := getPod(t, policed, sent.Name), getPod(t, plain, sent.Name)

			if n := len(untouched.Spec.InitContainers); n != 1 {
				t.Fatalf("pod without a policy has %d init containers, want CNPG's one", n)
			}
			names := containerNames(live.Spec.InitContainers)
			if strings.Join(names, ",") != "bootstrap-controller,"+SidecarName {
				t.Fatalf("init containers %v, want the sidecar right after bootstrap-controller", names)
			}
			sidecar := live.Spec.InitContainers[1]
			checkSidecar(t, sidecar, tc.uid, tc.wantMount, tc.wantEnv)

			// What CNPG compares must be what CNPG sent.
			if got, want := live.Annotations[podSpecAnnotation], sent.Annotations[podSpecAnnotation]; got != want || got == "" {
				t.Errorf("cnpg.io/podSpec changed:\n got %s\nwant %s", got, want)
			}
			for what, pair := range map[string][2]any{
				"annotations":          {live.Annotations, untouched.Annotations},
				"labels":               {live.Labels, untouched.Labels},
				"volumes":              {live.Spec.Volumes, untouched.Spec.Volumes},
				"containers":           {live.Spec.Containers, untouched.Spec.Containers},
				"bootstrap-controller": {live.Spec.InitContainers[0], untouched.Spec.InitContainers[0]},
				"pod security context": {live.Spec.SecurityContext, untouched.Spec.SecurityContext},
				"service account":      {live.Spec.ServiceAccountName, untouched.Spec.ServiceAccountName},
				"termination grace":    {live.Spec.TerminationGracePeriodSeconds, untouched.Spec.TerminationGracePeriodSeconds},
			} {
				if got, want := toJSON(t, pair[0]), toJSON(t, pair[1]); got != want {
					t.Errorf("%s differ from the pod without a policy:\n got %s\nwant %s", what, got, want)
				}
			}

			// A second pass changes nothing: the pod as stored, sent again.
			again := live.DeepCopy()
			again.ObjectMeta = metav1.ObjectMeta{Name: live.Name + "-again", Namespace: policed, Labels: live.Labels, Annotations: live.Annotations}
			must(t, c.Create(ctx, again, client.DryRunAll))
			if !equality.Semantic.DeepEqual(again.Spec.InitContainers, live.Spec.InitContainers) {
				t.Errorf("second pass changed init containers: %v", containerNames(again.Spec.InitContainers))
			}
			if _, d := Inject(live, nil, cnpgtest.NewPolicy(policed, "orders", "orders", tc.shape), DefaultSidecarConfig(testSidecarImage)); d.Sidecar != nil {
				t.Errorf("Inject on an injected pod: %s", d.Reason)
			}
		})
	}
}

func TestPodWebhookLeavesOtherPodsAlone(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	ns := env.NewNamespace(t, nil)
	shape := cnpgtest.Shape{}
	must(t, c.Create(ctx, cnpgtest.NewCluster(ns, "orders", shape)))
	must(t, c.Create(ctx, cnpgtest.NewPolicy(ns, "orders", "orders", shape)))
	must(t, c.Create(ctx, cnpgtest.NewCluster(ns, "other", shape)))

	unpoliced := cnpgtest.InstancePod(t, cnpgtest.NewCluster(ns, "other", shape))
	must(t, c.Create(ctx, unpoliced))
	// A pod of the policed cluster that is not an instance (a join or a
	// backup job pod, say): no podRole=instance label.
	job := cnpgtest.InstancePod(t, cnpgtest.NewCluster(ns, "orders", shape))
	job.Name = "orders-1-join"
	delete(job.Labels, instanceRoleLabel)
	must(t, c.Create(ctx, job))
	// The control: the same pod with the label is injected.
	instance := cnpgtest.InstancePod(t, cnpgtest.NewCluster(ns, "orders", shape))
	must(t, c.Create(ctx, instance))

	for name, wantSidecar := range map[string]bool{unpoliced.Name: false, job.Name: false, instance.Name: true} {
		got := getPod(t, ns, name)
		if has := HasSidecar(got); has != wantSidecar {
			t.Errorf("pod %s: sidecar %v, want %v (init containers %v)", name, has, wantSidecar, containerNames(got.Spec.InitContainers))
		}
	}
}

func checkSidecar(t *testing.T, s corev1.Container, uid int64, wantMounts map[string]string, wantVolumes string) {
	t.Helper()
	if s.Image != testSidecarImage || s.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %s pull %s", s.Image, s.ImagePullPolicy)
	}
	if s.RestartPolicy == nil || *s.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("not a native sidecar: restartPolicy %v", s.RestartPolicy)
	}
	if s.StartupProbe != nil || s.ReadinessProbe != nil || s.LivenessProbe != nil {
		t.Errorf("the sidecar must have no probes")
	}
	sc := s.SecurityContext
	if sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != uid || sc.RunAsGroup == nil || *sc.RunAsGroup != uid {
		t.Errorf("security context %s, want UID/GID %d", toJSON(t, sc), uid)
	}
	mounts := map[string]string{}
	for _, m := range s.VolumeMounts {
		if !m.ReadOnly {
			t.Errorf("mount %s is writable", m.MountPath)
		}
		mounts[m.MountPath] = m.Name
		if m.MountPath == "/controller/run" && m.SubPath != "run" {
			t.Errorf("socket mount subPath %q, want run (only the socket directory)", m.SubPath)
		}
	}
	if toJSON(t, mounts) != toJSON(t, wantMounts) {
		t.Errorf("mounts %v, want %v", mounts, wantMounts)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range s.Env {
		env[e.Name] = e
	}
	if got := env["PGSTORAGE_VOLUMES"].Value; got != wantVolumes {
		t.Errorf("PGSTORAGE_VOLUMES\n got %s\nwant %s", got, wantVolumes)
	}
	for name, path := range map[string]string{"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace", "POD_UID": "metadata.uid"} {
		if e := env[name]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != path {
			t.Errorf("%s is not the downward API's %s", name, path)
		}
	}
	if env["CLUSTER_NAME"].Value != "orders" || env["PGSTORAGE_SOCKET_DIR"].Value != "/controller/run" {
		t.Errorf("CLUSTER_NAME %q PGSTORAGE_SOCKET_DIR %q", env["CLUSTER_NAME"].Value, env["PGSTORAGE_SOCKET_DIR"].Value)
	}
	if s.Resources.Limits.Memory().String() != DefaultMemoryLimit || s.Resources.Requests.Cpu().String() != DefaultCPURequest {
		t.Errorf("resources %s", toJSON(t, s.Resources))
	}
}

func getPod(t *testing.T, namespace, name string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{}
	must(t, env.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, pod))
	return pod
}

func containerNames(cs []corev1.Container) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}
