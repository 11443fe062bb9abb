package plan

import (
	"cmp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// NudgeAnnotation is the pod annotation the controller updates so that
// kubelet syncs the pod now and grows a filesystem waiting in
// NodeResizePending, rather than at its next periodic sync up to 90 s later
// (DESIGN §7). It is the one pod field the controller may change
// (deploy/admission/pod-nudge.yaml).
const NudgeAnnotation = "pgstorage.io/resize-nudge"

// nudgeSeparator separates the growths one annotation value records; it
// cannot occur in a PVC name or a quantity.
const nudgeSeparator = ","

// NudgeSnapshot is what KubeletNudges needs, read once by the controller.
type NudgeSnapshot struct {
	// Policy is the policy's spec as the API server defaulted it.
	Policy v1alpha1.StorageAutoscalePolicySpec `json:"policy"`
	PVCs   []NudgePVC                          `json:"pvcs"`
	Pods   []NudgePod                          `json:"pods"`
}

// NudgePVC is where one PVC of the cluster stands in the expansion protocol.
type NudgePVC struct {
	Name string `json:"name"`
	// AllocatedResourceStatus is status.allocatedResourceStatuses.storage.
	AllocatedResourceStatus string `json:"allocatedResourceStatus,omitempty"`
	// FileSystemResizePending is the condition of that name being true:
	// the only sign on clusters without allocatedResourceStatuses.
	FileSystemResizePending bool `json:"fileSystemResizePending,omitempty"`
	// Target is the size kubelet grows the filesystem to:
	// status.allocatedResources.storage, else the request.
	Target resource.Quantity `json:"target"`
}

// NudgePod is one pod as the nudge sees it.
type NudgePod struct {
	Name string `json:"name"`
	// Cluster and Role are the pod's cnpg.io/cluster and cnpg.io/podRole labels.
	Cluster string `json:"cluster"`
	Role    string `json:"role"`
	// Node is spec.nodeName: a pod on no node has no kubelet to nudge.
	Node        string `json:"node,omitempty"`
	Terminating bool   `json:"terminating,omitempty"`
	// Claims are the PVCs the pod mounts (spec.volumes[].persistentVolumeClaim).
	Claims []string `json:"claims,omitempty"`
	// Annotation is the current value of NudgeAnnotation, "" when absent.
	Annotation string `json:"annotation,omitempty"`
}

// Nudge is one pod to annotate now.
type Nudge struct {
	Pod string `json:"pod"`
	// PVCs are the PVCs of the pod waiting for kubelet that this nudge is
	// the first for (the ones to report).
	PVCs []string `json:"pvcs"`
	// Value is the annotation's new value: every growth of the pod waiting
	// for kubelet, as sorted "<pvc>@<target>" joined by commas.
	Value string `json:"value"`
}

// podRoleInstance is CNPG's cnpg.io/podRole of a PostgreSQL instance pod.
const podRoleInstance = "instance"

// KubeletNudges says which pods to annotate now, with which value. A pod is
// nudged when it mounts a PVC in NodeResizePending (or with
// FileSystemResizePending) whose growth ("<pvc>@<target>") its annotation
// does not record yet: the annotation is the memory, so a restarted
// controller neither nudges a growth twice nor forgets one. Nothing is
// nudged when the policy turns nudging off or is in DryRun (which patches
// nothing), and only the cluster's running instance pods are.
func KubeletNudges(snapshot NudgeSnapshot) []Nudge {
	spec := snapshot.Policy
	if spec.Mode == v1alpha1.ModeDryRun || (spec.NudgeKubelet != nil && !*spec.NudgeKubelet) {
		return nil
	}
	waiting := map[string]string{} // PVC name -> "<pvc>@<target>"
	for _, pvc := range snapshot.PVCs {
		if pvc.AllocatedResourceStatus == nodeResizePending || pvc.FileSystemResizePending {
			waiting[pvc.Name] = pvc.Name + "@" + pvc.Target.String()
		}
	}
	if len(waiting) == 0 {
		return nil
	}
	var nudges []Nudge
	for _, pod := range snapshot.Pods {
		if pod.Cluster != spec.ClusterRef.Name || pod.Role != podRoleInstance || pod.Node == "" || pod.Terminating {
			continue
		}
		recorded := strings.Split(pod.Annotation, nudgeSeparator)
		var growths, fresh []string
		for _, claim := range pod.Claims {
			growth, ok := waiting[claim]
			if !ok || slices.Contains(growths, growth) {
				continue
			}
			growths = append(growths, growth)
			if !slices.Contains(recorded, growth) {
				fresh = append(fresh, claim)
			}
		}
		if len(fresh) == 0 {
			continue
		}
		slices.Sort(growths)
		slices.Sort(fresh)
		nudges = append(nudges, Nudge{Pod: pod.Name, PVCs: fresh, Value: strings.Join(growths, nudgeSeparator)})
	}
	slices.SortFunc(nudges, func(a, b Nudge) int { return cmp.Compare(a.Pod, b.Pod) })
	return nudges
}

// nodeResizePending is corev1.PersistentVolumeClaimNodeResizePending,
// spelled out: the planner imports no Kubernetes API types.
const nodeResizePending = "NodeResizePending"
