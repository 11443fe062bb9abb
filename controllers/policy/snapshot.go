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

// SnapshotOptions say how a snapshot is read.
type SnapshotOptions struct {
	// ResizeTimeout is the controller's resize timeout: the planner reads
	// a growth in flight for longer as stuck. 0 turns that rule off.
	ResizeTimeout time.Duration
	// Indexed: the reader is the controller's cache, with the indexes of
	// IndexFields. Otherwise (a reader of the API server, such as kubectl
	// pgstorage's) objects are selected by label and filtered here.
	Indexed bool
}

// View is what the controller decides on for one policy, read at once:
// the planner's Snapshot and what report says about it. kubectl pgstorage
// reads the same View through Snapshot, so that its explain and simulate
// give plan.Plan exactly the input the controller gives it.
type View struct {
	Now    time.Time
	Policy *v1alpha1.StorageAutoscalePolicy
	// Cluster is nil when the CNPG Cluster does not exist; Plan is then empty.
	Cluster *cnpgv1.Cluster
	// ConflictWith names the older policy of the same cluster, which wins:
	// this one does nothing, and Plan is empty.
	ConflictWith string
	Plan         plan.Snapshot
	// RejectedObservations are ignored as if absent (they disagree with
	// their pod), sorted by name.
	RejectedObservations []RejectedObservation
	// Unexpandable names the PVCs whose StorageClass cannot expand (or is missing).
	Unexpandable []string

	view          *clusterView
	resizeTimeout time.Duration
}

// Status is the status the controller writes for result when it has
// patched nothing yet (as in DryRun mode): the planner's rows, with the
// PVCs whose last growth failed shown failed, the history with the growths
// in progress that failed since, and the conditions. result is
// plan.Plan(snapshot), and snapshot the View's Plan or a changed copy of it
// (kubectl pgstorage simulate), whose time and history count. ResourceQuota
// refusals, which only patching meets, are left out. Only a View with a
// Cluster and no ConflictWith has a status of this kind.
func (v *View) Status(snapshot plan.Snapshot, result plan.Result) v1alpha1.StorageAutoscalePolicyStatus {
	view := *v.view
	view.now, view.plan = snapshot.Now, snapshot
	reporter := &Reconciler{Config: Config{ResizeTimeout: v.resizeTimeout, QuotaRetryInterval: DefaultQuotaRetryInterval}}
	status, _, _ := reporter.buildStatus(&view, result, actOutcome{})
	return status
}

// RejectedObservation is a StorageObservation the controller does not
// believe, and why (the ObservationsRejected condition lists them).
type RejectedObservation struct {
	Observation string `json:"observation"`
	Reason      string `json:"reason"`
	Message     string `json:"message"`
}

// Snapshot reads a policy's world at now as the controller does, through
// reader, which only reads. A missing Cluster or a conflicting policy is
// not an error: the View says so.
func Snapshot(ctx context.Context, reader client.Reader, policy *v1alpha1.StorageAutoscalePolicy, now time.Time, options SnapshotOptions) (*View, error) {
	view, err := readView(ctx, reader, policy, now, options)
	if err != nil {
		return nil, err
	}
	out := &View{
		Now: view.now, Policy: view.policy, Cluster: view.cluster, ConflictWith: view.conflictWith,
		Plan: view.plan, Unexpandable: view.unexpandable,
		view: view, resizeTimeout: options.ResizeTimeout,
	}
	for _, rejected := range view.rejected {
		out.RejectedObservations = append(out.RejectedObservations, RejectedObservation{
			Observation: rejected.Observation, Reason: rejected.Reason, Message: rejected.Message,
		})
	}
	return out, nil
}

// snapshot reads the policy's world through the controller's cache.
func (r *Reconciler) snapshot(ctx context.Context, policy *v1alpha1.StorageAutoscalePolicy) (*clusterView, error) {
	return readView(ctx, r.Client, policy, r.Clock.Now(),
		SnapshotOptions{ResizeTimeout: r.Config.ResizeTimeout, Indexed: true})
}

// readView reads the policy's world. A missing Cluster is not an error: the
// view says so and report turns it into a condition.
func readView(ctx context.Context, reader client.Reader, policy *v1alpha1.StorageAutoscalePolicy, now time.Time, options SnapshotOptions) (*clusterView, error) {
	view := &clusterView{
		now:        now,
		policy:     policy,
		pvcs:       map[string]*corev1.PersistentVolumeClaim{},
		resize:     map[string]resizeState{},
		observedAt: map[string]time.Time{},
	}
	namespace, clusterName := policy.Namespace, policy.Spec.ClusterRef.Name

	conflict, err := olderPolicy(ctx, reader, policy, options)
	if err != nil {
		return nil, err
	}
	if conflict != "" {
		view.conflictWith = conflict
		return view, nil
	}

	cluster := &cnpgv1.Cluster{}
	switch err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: clusterName}, cluster); {
	case apierrors.IsNotFound(err):
		return view, nil
	case err != nil:
		return nil, fmt.Errorf("get CNPG Cluster %s/%s: %w", namespace, clusterName, err)
	}
	view.cluster = cluster

	// The cache indexes the cluster label; the API server selects by it.
	var inCluster client.ListOption = client.MatchingLabels{labelCluster: clusterName}
	if options.Indexed {
		inCluster = client.MatchingFields{indexClusterLabel: clusterName}
	}
	var pvcs corev1.PersistentVolumeClaimList
	if err := reader.List(ctx, &pvcs, client.InNamespace(namespace), inCluster, client.HasLabels{labelPVCRole}); err != nil {
		return nil, fmt.Errorf("list PVCs of cluster %s/%s: %w", namespace, clusterName, err)
	}
	var pods corev1.PodList
	if err := reader.List(ctx, &pods, client.InNamespace(namespace), inCluster, client.MatchingLabels{labelPodRole: podRoleInstance}); err != nil {
		return nil, fmt.Errorf("list instance pods of cluster %s/%s: %w", namespace, clusterName, err)
	}
	// Observations are matched by spec.cluster below; the index only
	// narrows the list.
	observationOptions := []client.ListOption{client.InNamespace(namespace)}
	if options.Indexed {
		observationOptions = append(observationOptions, client.MatchingFields{indexObservationCluster: clusterName})
	}
	var observations v1alpha1.StorageObservationList
	if err := reader.List(ctx, &observations, observationOptions...); err != nil {
		return nil, fmt.Errorf("list StorageObservations of cluster %s/%s: %w", namespace, clusterName, err)
	}
	classes, err := storageClasses(ctx, reader, pvcs.Items)
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
		ResizeTimeout: metav1.Duration{Duration: options.ResizeTimeout},
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
		Unbound:  pvc.Status.Phase != corev1.ClaimBound,
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
func storageClasses(ctx context.Context, reader client.Reader, pvcs []corev1.PersistentVolumeClaim) (map[string]*storagev1.StorageClass, error) {
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
		switch err := reader.Get(ctx, types.NamespacedName{Name: name}, class); {
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

// olderPolicy returns the name of the policy that governs the cluster
// (StorageAutoscalePolicy.Governs) when it is not this one, or "".
// Policies of other clusters are skipped below; the index only narrows the list.
func olderPolicy(ctx context.Context, reader client.Reader, policy *v1alpha1.StorageAutoscalePolicy, options SnapshotOptions) (string, error) {
	listOptions := []client.ListOption{client.InNamespace(policy.Namespace)}
	if options.Indexed {
		listOptions = append(listOptions, client.MatchingFields{indexClusterRef: policy.Spec.ClusterRef.Name})
	}
	var policies v1alpha1.StorageAutoscalePolicyList
	if err := reader.List(ctx, &policies, listOptions...); err != nil {
		return "", fmt.Errorf("list policies of cluster %s/%s: %w", policy.Namespace, policy.Spec.ClusterRef.Name, err)
	}
	governing := policy
	for index := range policies.Items {
		other := &policies.Items[index]
		if other.UID == policy.UID || other.Spec.ClusterRef.Name != policy.Spec.ClusterRef.Name || other.DeletionTimestamp != nil {
			continue
		}
		if other.Governs(governing) {
			governing = other
		}
	}
	if governing == policy {
		return "", nil
	}
	return governing.Name, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}
