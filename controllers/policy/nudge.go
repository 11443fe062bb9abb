package policy

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// Outcomes of pgstorage_kubelet_nudges_total.
const (
	nudgeOutcomeNudged = "Nudged"
	nudgeOutcomeFailed = "Failed"
)

// nudgeSnapshotOf is what plan.KubeletNudges decides on: the PVCs' place in
// the expansion protocol and, per instance pod, its labels, node, the PVCs it
// mounts and the nudge annotation it carries.
func nudgeSnapshotOf(policy *v1alpha1.StorageAutoscalePolicy, pvcs []corev1.PersistentVolumeClaim, pods []corev1.Pod) plan.NudgeSnapshot {
	snapshot := plan.NudgeSnapshot{Policy: policy.Spec}
	for index := range pvcs {
		pvc := &pvcs[index]
		target, allocated := pvc.Status.AllocatedResources[corev1.ResourceStorage]
		if !allocated {
			target = pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		}
		nudgePVC := plan.NudgePVC{
			Name:                    pvc.Name,
			AllocatedResourceStatus: string(pvc.Status.AllocatedResourceStatuses[corev1.ResourceStorage]),
			Target:                  target,
		}
		for _, condition := range pvc.Status.Conditions {
			if condition.Type == conditionFileSystemResizePending && condition.Status == corev1.ConditionTrue {
				nudgePVC.FileSystemResizePending = true
			}
		}
		snapshot.PVCs = append(snapshot.PVCs, nudgePVC)
	}
	for index := range pods {
		pod := &pods[index]
		nudgePod := plan.NudgePod{
			Name:        pod.Name,
			Cluster:     pod.Labels[labelCluster],
			Role:        pod.Labels[labelPodRole],
			Node:        pod.Spec.NodeName,
			Terminating: pod.DeletionTimestamp != nil,
			Annotation:  pod.Annotations[plan.NudgeAnnotation],
		}
		for _, volume := range pod.Spec.Volumes {
			if volume.PersistentVolumeClaim != nil {
				nudgePod.Claims = append(nudgePod.Claims, volume.PersistentVolumeClaim.ClaimName)
			}
		}
		snapshot.Pods = append(snapshot.Pods, nudgePod)
	}
	return snapshot
}

// nudgeKubelet annotates the pods plan.KubeletNudges names. A failed nudge
// is logged and counted, never retried on its own and never an error of the
// reconcile: kubelet still grows the filesystem at its next periodic sync,
// so the nudge only ever saves time.
func (r *Reconciler) nudgeKubelet(ctx context.Context, view *clusterView) {
	log := logf.FromContext(ctx)
	namespace, cluster := view.policy.Namespace, view.policy.Spec.ClusterRef.Name
	for _, nudge := range plan.KubeletNudges(view.nudge) {
		podLog := log.WithValues("pod", nudge.Pod, "pvcs", nudge.PVCs, "value", nudge.Value)
		done, err := r.alreadyNudged(ctx, namespace, nudge)
		if err == nil && done {
			podLog.V(1).Info("pod already nudged for these growths (the cache had not seen it yet)")
			continue
		}
		if err == nil {
			err = r.patchNudge(ctx, namespace, nudge)
		}
		switch {
		case err == nil:
			r.Metrics.CountNudge(namespace, cluster, nudgeOutcomeNudged)
			podLog.Info("nudged kubelet to grow the filesystem now")
			r.recordNudgeEvents(view, nudge)
		case apierrors.IsNotFound(err):
			// The pod went away since the snapshot: its successor mounts
			// the volume afresh, and kubelet grows it then.
			podLog.V(1).Info("pod to nudge is gone")
		default:
			r.Metrics.CountNudge(namespace, cluster, nudgeOutcomeFailed)
			podLog.Error(err, "nudge kubelet (annotate the pod); the filesystem grows at kubelet's next sync instead, within about 90 s")
		}
	}
}

// alreadyNudged reads the pod from the API server: the cache may not have
// seen the nudge of a reconcile a moment ago yet, and annotating again with
// the same value would change nothing on the pod but report the nudge twice.
func (r *Reconciler) alreadyNudged(ctx context.Context, namespace string, nudge plan.Nudge) (bool, error) {
	pod := &corev1.Pod{}
	if err := r.reader().Get(ctx, types.NamespacedName{Namespace: namespace, Name: nudge.Pod}, pod); err != nil {
		return false, fmt.Errorf("get pod %s/%s to nudge: %w", namespace, nudge.Pod, err)
	}
	return pod.Annotations[plan.NudgeAnnotation] == nudge.Value, nil
}

// patchNudge sets the nudge annotation and nothing else: a merge patch of
// one key of metadata.annotations, without a resourceVersion, since the
// value is absolute and the pod's status changes often.
func (r *Reconciler) patchNudge(ctx context.Context, namespace string, nudge plan.Nudge) error {
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{plan.NudgeAnnotation: nudge.Value}},
	})
	if err != nil {
		return err
	}
	pod := &corev1.Pod{}
	pod.Namespace, pod.Name = namespace, nudge.Pod
	if err := r.Client.Patch(ctx, pod, client.RawPatch(types.MergePatchType, body)); err != nil {
		return fmt.Errorf("annotate pod %s/%s %s=%s: %w", namespace, nudge.Pod, plan.NudgeAnnotation, nudge.Value, err)
	}
	return nil
}
