package policy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// clusterView is everything one reconcile knows, read at once: the plan's
// Snapshot plus the objects act and report need to patch and describe.
type clusterView struct {
	now    time.Time
	policy *v1alpha1.StorageAutoscalePolicy
	// cluster is nil when the CNPG Cluster does not exist.
	cluster *cnpgv1.Cluster
	// conflictWith names the older policy of the same cluster, which wins.
	conflictWith string
	pvcs         map[string]*corev1.PersistentVolumeClaim
	resize       map[string]resizeState
	// instances are every instance the cluster has a pod or a PVC for, sorted.
	instances []string
	pods      []corev1.Pod
	// observedAt is each instance's newest observation time.
	observedAt map[string]time.Time
	// rejected are the observations of the cluster that disagree with
	// their pod, sorted by name: ignored as if absent.
	rejected []rejection
	// unexpandable names the PVCs whose StorageClass cannot expand (or is missing).
	unexpandable []string
	plan         plan.Snapshot
	// nudge is what plan.KubeletNudges decides on.
	nudge plan.NudgeSnapshot
}

// snapshot reads the policy's world. A missing Cluster is not an error: the
// view says so and report turns it into a condition.
func (r *Reconciler) snapshot(ctx context.Context, policy *v1alpha1.StorageAutoscalePolicy) (*clusterView, error) {
	view := &clusterView{
		now:        r.Clock.Now(),
		policy:     policy,
		pvcs:       map[string]*corev1.PersistentVolumeClaim{},
		resize:     map[string]resizeState{},
		observedAt: map[string]time.Time{},
	}
	namespace, clusterName := policy.Namespace, policy.Spec.ClusterRef.Name

	conflict, err := r.olderPolicy(ctx, policy)
	if err != nil {
		return nil, err
	}
	if conflict != "" {
		view.conflictWith = conflict
		return view, nil
	}

	cluster := &cnpgv1.Cluster{}
	switch err := r.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: clusterName}, cluster); {
	case apierrors.IsNotFound(err):
		return view, nil
	case err != nil:
		return nil, fmt.Errorf("get CNPG Cluster %s/%s: %w", namespace, clusterName, err)
	}
	view.cluster = cluster

	inCluster := client.MatchingFields{indexClusterLabel: clusterName}
	var pvcs corev1.PersistentVolumeClaimList
	if err := r.Client.List(ctx, &pvcs, client.InNamespace(namespace), inCluster, client.HasLabels{labelPVCRole}); err != nil {
		return nil, fmt.Errorf("list PVCs of cluster %s/%s: %w", namespace, clusterName, err)
	}
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(namespace), inCluster, client.MatchingLabels{labelPodRole: podRoleInstance}); err != nil {
		return nil, fmt.Errorf("list instance pods of cluster %s/%s: %w", namespace, clusterName, err)
	}
	var observations v1alpha1.StorageObservationList
	if err := r.Client.List(ctx, &observations, client.InNamespace(namespace), client.MatchingFields{indexObservationCluster: clusterName}); err != nil {
		return nil, fmt.Errorf("list StorageObservations of cluster %s/%s: %w", namespace, clusterName, err)
	}
	classes, err := r.storageClasses(ctx, pvcs.Items)
	if err != nil {
		return nil, err
	}

	view.pods = pods.Items
	view.plan = plan.Snapshot{
		Now:     view.now,
		Policy:  policy.Spec,
		Primary: cluster.Status.CurrentPrimary,
		Budget:  policy.Status.Budget.Actions,
		Pending: policy.Status.Pending,
		History: policy.Status.History,
		// The planner reads a growth's expansion as the history does.
		ResizeTimeout: metav1.Duration{Duration: r.Config.ResizeTimeout},
	}
	lastGrowth := map[string]time.Time{}
	for _, row := range policy.Status.Volumes {
		if row.LastGrowth != nil {
			lastGrowth[row.PVC] = row.LastGrowth.Time
		}
	}
	instances := map[string]bool{}
	for index := range pvcs.Items {
		pvc := &pvcs.Items[index]
		planPVC, ok := planPVCOf(pvc)
		if !ok {
			continue
		}
		state := resizeStateOf(pvc)
		planPVC.AllocatedResourceStatus = state.allocated
		planPVC.AllocatedResources = state.allocatedSize
		planPVC.ResizeConditions = state.conditions
		planPVC.LastGrowth = lastGrowth[pvc.Name]
		view.pvcs[pvc.Name] = pvc
		view.resize[pvc.Name] = state
		view.plan.PVCs = append(view.plan.PVCs, planPVC)
		if planPVC.Instance != "" {
			instances[planPVC.Instance] = true
		}
		class := classes[planPVC.StorageClass]
		if class == nil || class.AllowVolumeExpansion == nil || !*class.AllowVolumeExpansion {
			view.unexpandable = append(view.unexpandable, pvc.Name)
		}
	}
	for _, pod := range pods.Items {
		instances[instanceOfPod(&pod)] = true
	}
	podsByName := make(map[string]*corev1.Pod, len(pods.Items))
	for index := range pods.Items {
		podsByName[pods.Items[index].Name] = &pods.Items[index]
	}
	for index := range observations.Items {
		observation := &observations.Items[index]
		if observation.Spec.Cluster != clusterName {
			continue
		}
		if rejected, ok := rejectObservation(observation, podsByName[observation.Name], clusterName, view.now); ok {
			view.rejected = append(view.rejected, rejected)
			continue
		}
		view.plan.Observations = append(view.plan.Observations, plan.Observation{
			Instance: observation.Spec.Instance,
			Status:   observation.Status,
		})
		if at := observation.Status.ObservedAt; at != nil && at.After(view.observedAt[observation.Spec.Instance]) {
			view.observedAt[observation.Spec.Instance] = at.Time
		}
	}
	for _, name := range sortedKeys(classes) {
		class := classes[name]
		view.plan.StorageClasses = append(view.plan.StorageClasses, plan.StorageClass{
			Name:                 class.Name,
			Provisioner:          class.Provisioner,
			AllowVolumeExpansion: class.AllowVolumeExpansion != nil && *class.AllowVolumeExpansion,
			Parameters:           class.Parameters,
		})
	}
	// The API lists in name order, but a cache need not: sort so that the
	// same world always gives the same snapshot.
	slices.SortFunc(view.plan.PVCs, func(a, b plan.PVC) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(view.plan.Observations, func(a, b plan.Observation) int { return cmp.Compare(a.Instance, b.Instance) })
	slices.Sort(view.unexpandable)
	slices.SortFunc(view.rejected, func(a, b rejection) int { return cmp.Compare(a.Observation, b.Observation) })
	rebuildFromPVCs(ctx, view)
	view.instances = sortedKeys(instances)
	view.nudge = nudgeSnapshotOf(policy, pvcs.Items, pods.Items)
	return view, nil
}

// planPVCOf turns a CNPG PVC into the planner's view; false for a PVC whose
// role label is not one CNPG sets.
func planPVCOf(pvc *corev1.PersistentVolumeClaim) (plan.PVC, bool) {
	out := plan.PVC{
		Name:     pvc.Name,
		Instance: pvc.Labels[labelInstanceName],
		Request:  pvc.Spec.Resources.Requests[corev1.ResourceStorage],
		Capacity: pvc.Status.Capacity[corev1.ResourceStorage],
	}
	if out.Instance == "" {
		// CNPG names the data PVC after the instance; older PVCs may lack the label.
		out.Instance = pvc.Name
	}
	if pvc.Spec.StorageClassName != nil {
		out.StorageClass = *pvc.Spec.StorageClassName
	}
	switch pvc.Labels[labelPVCRole] {
	case pvcRoleData:
		out.Role = v1alpha1.RoleData
	case pvcRoleWAL:
		out.Role = v1alpha1.RoleWAL
	case pvcRoleTablespace:
		out.Role = v1alpha1.RoleTablespace
		out.Tablespace = pvc.Labels[labelTablespaceName]
	default:
		return plan.PVC{}, false
	}
	return out, true
}

func instanceOfPod(pod *corev1.Pod) string {
	if name := pod.Labels[labelInstanceName]; name != "" {
		return name
	}
	return pod.Name
}

// storageClasses gets the classes the PVCs name; a class that does not
// exist is left out (the planner then holds its PVCs, saying so).
func (r *Reconciler) storageClasses(ctx context.Context, pvcs []corev1.PersistentVolumeClaim) (map[string]*storagev1.StorageClass, error) {
	classes := map[string]*storagev1.StorageClass{}
	for _, pvc := range pvcs {
		if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName == "" {
			continue
		}
		name := *pvc.Spec.StorageClassName
		if _, seen := classes[name]; seen {
			continue
		}
		class := &storagev1.StorageClass{}
		switch err := r.Client.Get(ctx, types.NamespacedName{Name: name}, class); {
		case apierrors.IsNotFound(err):
			classes[name] = nil
		case err != nil:
			return nil, fmt.Errorf("get StorageClass %s: %w", name, err)
		default:
			classes[name] = class
		}
	}
	for name, class := range classes {
		if class == nil {
			delete(classes, name)
		}
	}
	return classes, nil
}

// olderPolicy returns the name of another policy of the same cluster that
// wins over this one (the older; the name breaks a tie), or "".
func (r *Reconciler) olderPolicy(ctx context.Context, policy *v1alpha1.StorageAutoscalePolicy) (string, error) {
	var policies v1alpha1.StorageAutoscalePolicyList
	if err := r.Client.List(ctx, &policies, client.InNamespace(policy.Namespace), client.MatchingFields{indexClusterRef: policy.Spec.ClusterRef.Name}); err != nil {
		return "", fmt.Errorf("list policies of cluster %s/%s: %w", policy.Namespace, policy.Spec.ClusterRef.Name, err)
	}
	winner := ""
	for index := range policies.Items {
		other := &policies.Items[index]
		if other.UID == policy.UID || other.Spec.ClusterRef.Name != policy.Spec.ClusterRef.Name || other.DeletionTimestamp != nil {
			continue
		}
		if other.CreationTimestamp.Before(&policy.CreationTimestamp) ||
			(other.CreationTimestamp.Equal(&policy.CreationTimestamp) && other.Name < policy.Name) {
			if winner == "" || other.Name < winner {
				winner = other.Name
			}
		}
	}
	return winner, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}
