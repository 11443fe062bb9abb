package admission

import (
	"fmt"
	"strings"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/config"
)

// SidecarName is the name of the injected init container. It is also how a
// pod that already has the probe is recognised: injection is idempotent.
const SidecarName = "pgstorage-probe"

// Decision is what Inject decided for one pod.
type Decision struct {
	// Sidecar is the container to add, nil when the pod is left alone.
	Sidecar *corev1.Container
	// Index is where Sidecar goes in spec.initContainers: right after
	// CNPG's bootstrap-controller (which copies the instance manager the
	// postgres container runs), at the end when there is none.
	Index int
	// Reason says why the pod is left alone, or what was injected.
	Reason string
}

// Inject decides whether a pod gets the probe sidecar and builds it. It is
// pure: the pod, its CNPG Cluster (nil when it could not be read), the policy
// for that cluster (nil when there is none) and the configuration go in; the
// mutated copy and the decision come out. The input pod is never modified.
//
// Only spec.initContainers changes. Nothing CNPG compares to decide a
// rollout is touched: no annotation (cnpg.io/podSpec in particular), no
// volume (the projected volume, the PVCs), no other container.
func Inject(pod *corev1.Pod, cluster *cnpgv1.Cluster, policy *v1alpha1.StorageAutoscalePolicy, cfg SidecarConfig) (*corev1.Pod, Decision) {
	d := decide(pod, cluster, policy, cfg)
	if d.Sidecar == nil {
		return pod, d
	}
	out := pod.DeepCopy()
	inits := make([]corev1.Container, 0, len(out.Spec.InitContainers)+1)
	inits = append(inits, out.Spec.InitContainers[:d.Index]...)
	inits = append(inits, *d.Sidecar)
	inits = append(inits, out.Spec.InitContainers[d.Index:]...)
	out.Spec.InitContainers = inits
	return out, d
}

func decide(pod *corev1.Pod, cluster *cnpgv1.Cluster, policy *v1alpha1.StorageAutoscalePolicy, cfg SidecarConfig) Decision {
	clusterName := pod.Labels[clusterLabel]
	switch {
	case pod.Labels[instanceRoleLabel] != instanceRoleLabelValue || clusterName == "":
		return Decision{Reason: "not a CNPG instance pod"}
	case policy == nil:
		return Decision{Reason: fmt.Sprintf("cluster %s has no StorageAutoscalePolicy", clusterName)}
	case policy.Spec.ClusterRef.Name != clusterName:
		return Decision{Reason: fmt.Sprintf("policy %s is for cluster %s, not %s", policy.Name, policy.Spec.ClusterRef.Name, clusterName)}
	case HasSidecar(pod):
		return Decision{Reason: "the pod already has " + SidecarName}
	case cfg.Image == "":
		return Decision{Reason: "no sidecar image is configured"}
	}
	postgres := findContainer(pod.Spec.Containers, postgresContainerName)
	if postgres == nil {
		return Decision{Reason: "the pod has no postgres container"}
	}
	volumes := postgresVolumes(pod, postgres)
	if len(volumes) == 0 {
		return Decision{Reason: "the postgres container mounts no PostgreSQL volume"}
	}
	uid, gid := postgresIDs(pod, postgres, cluster)
	sidecar := sidecarContainer(clusterName, volumes, postgres, uid, gid, cfg)
	index := len(pod.Spec.InitContainers)
	for i, c := range pod.Spec.InitContainers {
		if c.Name == bootstrapContainerName {
			index = i + 1
			break
		}
	}
	names := make([]string, len(volumes))
	for i, v := range volumes {
		names[i] = v.Name
	}
	return Decision{
		Sidecar: sidecar,
		Index:   index,
		Reason:  fmt.Sprintf("inject %s measuring %s as UID %d", SidecarName, strings.Join(names, ", "), uid),
	}
}

// HasSidecar is true when any container of the pod is already the probe,
// wherever it is: a pod that went through the webhook twice (reinvocation,
// a retried request) gets it once. It is also what controllers/restarts
// reports and restarts a pod for lacking, so that the webhook and the
// restarts never disagree on which pods have the probe.
func HasSidecar(pod *corev1.Pod) bool {
	return findContainer(pod.Spec.InitContainers, SidecarName) != nil ||
		findContainer(pod.Spec.Containers, SidecarName) != nil
}

func findContainer(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

// postgresIDs is the UID and GID PostgreSQL runs as in this pod: peer
// authentication maps the probe's UID to cnpg_metrics_exporter only when it
// is PostgreSQL's own. The pod says it most precisely (the postgres
// container, then the pod's security context, both written by CNPG from the
// Cluster); the Cluster's postgresUID/postgresGID and CNPG's default 26 are
// the fallbacks.
func postgresIDs(pod *corev1.Pod, postgres *corev1.Container, cluster *cnpgv1.Cluster) (uid, gid int64) {
	uid, gid = defaultPostgresUIDAndGID, defaultPostgresUIDAndGID
	if cluster != nil {
		uid, gid = cluster.GetPostgresUID(), cluster.GetPostgresGID()
	}
	if sc := pod.Spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = *sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = *sc.RunAsGroup
		}
	}
	if sc := postgres.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = *sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = *sc.RunAsGroup
		}
	}
	return uid, gid
}

// sidecarContainer builds the probe: a native sidecar (restartPolicy
// Always) so that it starts before postgres, keeps running while postgres
// crash-loops on a full disk, and never restarts PostgreSQL when it crashes.
// It has no probes: a readiness probe would take the instance out of CNPG's
// Services, and a startup probe would delay PostgreSQL's start.
func sidecarContainer(clusterName string, volumes []config.Volume, postgres *corev1.Container, uid, gid int64, cfg SidecarConfig) *corev1.Container {
	mounts := make([]corev1.VolumeMount, 0, len(volumes)+2)
	for _, v := range volumes {
		mounts = append(mounts, corev1.VolumeMount{Name: v.Name, MountPath: v.MountPath, ReadOnly: true})
	}
	// Only the socket directory of CNPG's scratch volume, not the whole of
	// /controller (which also holds the instance's TLS keys).
	if m, ok := mountAt(postgres, controllerMountPath); ok && m.SubPath == "" {
		mounts = append(mounts, corev1.VolumeMount{Name: m.Name, MountPath: socketDir, SubPath: socketSubPath, ReadOnly: true})
	}
	// The ServiceAccount admission plugin ran before this webhook and gave
	// its token mount only to the containers that existed then.
	if m, ok := mountAt(postgres, serviceAccountMountPath); ok {
		mounts = append(mounts, corev1.VolumeMount{Name: m.Name, MountPath: m.MountPath, ReadOnly: true})
	}
	fieldEnv := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path},
		}}
	}
	return &corev1.Container{
		Name:            SidecarName,
		Image:           cfg.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		RestartPolicy:   ptr.To(corev1.ContainerRestartPolicyAlways),
		Env: []corev1.EnvVar{
			fieldEnv("POD_NAME", "metadata.name"),
			fieldEnv("POD_NAMESPACE", "metadata.namespace"),
			fieldEnv("POD_UID", "metadata.uid"),
			{Name: "CLUSTER_NAME", Value: clusterName},
			{Name: "PGSTORAGE_VOLUMES", Value: config.FormatVolumeList(volumes)},
			{Name: "PGSTORAGE_SOCKET_DIR", Value: socketDir},
			{Name: "PGSTORAGE_METRICS_ADDR", Value: fmt.Sprintf(":%d", cfg.MetricsPort)},
		},
		Ports: []corev1.ContainerPort{{Name: "probe-metrics", ContainerPort: cfg.MetricsPort, Protocol: corev1.ProtocolTCP}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: cfg.CPURequest, corev1.ResourceMemory: cfg.MemoryRequest},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: cfg.CPULimit, corev1.ResourceMemory: cfg.MemoryLimit},
		},
		VolumeMounts:             mounts,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr.To(uid),
			RunAsGroup:               ptr.To(gid),
			RunAsNonRoot:             ptr.To(true),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Privileged:               ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}
