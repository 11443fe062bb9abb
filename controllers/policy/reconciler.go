package policy

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/metrics"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// Defaults of Config.
const (
	DefaultResizeTimeout      = 10 * time.Minute
	DefaultQuotaRetryInterval = 5 * time.Minute
)

// Config is the reconciler's configuration, set from flags in cmd/controller.
type Config struct {
	// ResizeTimeout: a growth still in flight this long after its patch is
	// reported as failed (stuck). 0 turns stuck detection off.
	ResizeTimeout time.Duration
	// QuotaRetryInterval: after a ResourceQuota refused a growth, the patch
	// is tried again no sooner than this.
	QuotaRetryInterval time.Duration
	// MissingSidecars, when set, names the instance pods that run without
	// the probe sidecar (the admission work provides it); the policy's
	// SidecarMissing condition is managed only when it is set.
	MissingSidecars func(pods []corev1.Pod) []string
}

// Reconciler reconciles one StorageAutoscalePolicy: snapshot, plan, act, report.
type Reconciler struct {
	Client client.Client
	// APIReader reads around the cache when the status patch conflicts;
	// Client is used when nil.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Metrics may be nil (no metrics).
	Metrics *metrics.Recorder
	// Clock is RealClock in production; tests move their own.
	Clock  Clock
	Config Config

	// clusters remembers each policy's cluster so that its metric series
	// can be deleted once the policy is gone. Lost on restart, like the
	// series themselves.
	clusters sync.Map
}

// +kubebuilder:rbac:groups=pgstorage.io,resources=storageautoscalepolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=pgstorage.io,resources=storageautoscalepolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=pgstorage.io,resources=storageobservations,verbs=get;list;watch
// +kubebuilder:rbac:groups=postgresql.cnpg.io,resources=clusters,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;patch
// pods patch is for the kubelet nudge alone (nudge.go); the chart's
// ValidatingAdmissionPolicy (deploy/admission/pod-nudge.yaml) narrows it to
// the pgstorage.io/resize-nudge annotation.
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=resourcequotas,verbs=get;list;watch
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete

// Reconcile runs one pass for one policy.
func (r *Reconciler) Reconcile(ctx context.Context, request ctrl.Request) (ctrl.Result, error) {
	started := time.Now()
	defer func() { r.Metrics.ObserveReconcile(time.Since(started).Seconds()) }()

	// The policy is read from the API server, not the cache: its status is
	// the controller's memory (budget, history), and a cache that has not
	// yet seen the last reconcile's status write would make this one
	// forget a growth it just recorded.
	policy := &v1alpha1.StorageAutoscalePolicy{}
	if err := r.reader().Get(ctx, request.NamespacedName, policy); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(request.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("get policy %s: %w", request.NamespacedName, err)
	}
	log := logf.FromContext(ctx).WithValues("cluster", policy.Spec.ClusterRef.Name)
	ctx = logf.IntoContext(ctx, log)
	r.clusters.Store(request.NamespacedName, policy.Spec.ClusterRef.Name)

	view, err := r.snapshot(ctx, policy)
	if err != nil {
		return ctrl.Result{}, err
	}
	switch {
	case view.conflictWith != "":
		return ctrl.Result{}, r.reportInactive(ctx, view, stateConflict, reasonConflict,
			fmt.Sprintf("policy %s is older and already manages cluster %s: this policy does nothing; delete one of them", view.conflictWith, policy.Spec.ClusterRef.Name))
	case view.cluster == nil:
		return ctrl.Result{}, r.reportInactive(ctx, view, stateError, reasonClusterNotFound,
			fmt.Sprintf("CNPG Cluster %s not found in namespace %s", policy.Spec.ClusterRef.Name, policy.Namespace))
	}
	result := plan.Plan(view.plan)
	outcome := r.act(ctx, view, result)
	return r.report(ctx, view, result, outcome)
}

// reportInactive reports a policy that cannot act (a conflict, a missing
// Cluster); its history and budget are kept for when it can again.
func (r *Reconciler) reportInactive(ctx context.Context, view *clusterView, state, reason, message string) error {
	policy := view.policy
	status := *policy.Status.DeepCopy()
	status.ObservedGeneration = policy.Generation
	status.State = state
	status.Volumes, status.Pending = nil, nil
	conditions := conditionSetter{conditions: &status.Conditions, generation: policy.Generation, now: view.now}
	conditions.set(v1alpha1.ConditionReady, false, reason, message)
	conditions.set(v1alpha1.ConditionActive, false, reason, message)
	conflict := reason == reasonConflict
	if conflict {
		conditions.set(v1alpha1.ConditionConflict, true, reasonConflict, message)
	} else {
		conditions.set(v1alpha1.ConditionConflict, false, reasonNoConflict, "this is the only policy of cluster "+policy.Spec.ClusterRef.Name)
	}
	logf.FromContext(ctx).Info("policy inactive", "state", state, "reason", message)
	return r.writeStatus(ctx, policy, status)
}

func (r *Reconciler) forget(policy types.NamespacedName) {
	cluster, ok := r.clusters.LoadAndDelete(policy)
	if !ok {
		return
	}
	// A conflicting policy of the same cluster may remain: its series stay.
	remains := false
	r.clusters.Range(func(key, value any) bool {
		other := key.(types.NamespacedName)
		remains = other.Namespace == policy.Namespace && value == cluster
		return !remains
	})
	if !remains {
		r.Metrics.ForgetCluster(policy.Namespace, cluster.(string))
	}
}

func (r *Reconciler) reader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}
