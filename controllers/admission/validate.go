package admission

import (
	"fmt"
	"sort"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// Verdict is the policy webhook's answer: Errors reject the policy,
// Warnings are shown to the user (kubectl prints them) and admit it.
type Verdict struct {
	Errors   []string
	Warnings []string
}

func (v *Verdict) errorf(format string, args ...any) {
	v.Errors = append(v.Errors, fmt.Sprintf(format, args...))
}

func (v *Verdict) warnf(format string, args ...any) {
	v.Warnings = append(v.Warnings, fmt.Sprintf(format, args...))
}

// ValidatePolicy checks what the CRD's CEL rules cannot: rules across
// fields that CEL's cost budget cannot afford, and rules that need the CNPG
// Cluster (nil when it does not exist yet) or the namespace's other policies.
// It is pure; every message names the field, the value and the fix.
//
// A Cluster that does not exist yet is a warning, not an error: GitOps
// tools apply a policy and its cluster in any order, and the controller
// reports a policy whose cluster is missing in its status. The checks that
// need the cluster run again on the policy's next update; the controller's
// status reports a cluster that does not match its policy.
func ValidatePolicy(policy *v1alpha1.StorageAutoscalePolicy, cluster *cnpgv1.Cluster, others []v1alpha1.StorageAutoscalePolicy) Verdict {
	var v Verdict
	spec := &policy.Spec
	checkUnique(&v, policy, others)
	checkWindows(&v, spec.MaintenanceWindows)
	eachRule(spec, func(field string, rule *v1alpha1.VolumePolicy) {
		if !rule.Step.Max.IsZero() && rule.Step.Max.Cmp(rule.Step.Min) < 0 {
			v.errorf("%s.step.max %s is below %s.step.min %s: set step.max to 0 (unbounded) or to at least %s",
				field, rule.Step.Max.String(), field, rule.Step.Min.String(), rule.Step.Min.String())
		}
	})
	if cluster == nil {
		v.warnf("CNPG Cluster %s does not exist in namespace %s yet: the checks that need it (WAL and tablespace limits, "+
			"the single-volume acknowledgement, limits at least the configured sizes) run on the policy's next change, "+
			"and the controller reports the policy as not Ready until the cluster exists", spec.ClusterRef.Name, policy.Namespace)
		return v
	}
	checkAgainstCluster(&v, spec, cluster)
	return v
}

func checkUnique(v *Verdict, policy *v1alpha1.StorageAutoscalePolicy, others []v1alpha1.StorageAutoscalePolicy) {
	var holders []string
	for _, o := range others {
		if o.Name != policy.Name && o.Spec.ClusterRef.Name == policy.Spec.ClusterRef.Name && o.DeletionTimestamp.IsZero() {
			holders = append(holders, o.Name)
		}
	}
	if len(holders) > 0 {
		sort.Strings(holders)
		v.errorf("spec.clusterRef.name %s: cluster %s already has StorageAutoscalePolicy %s, and a cluster has one policy; "+
			"edit %s instead, or delete it first", policy.Spec.ClusterRef.Name, policy.Spec.ClusterRef.Name, holders[0], holders[0])
	}
}

func checkWindows(v *Verdict, windows []v1alpha1.MaintenanceWindow) {
	for i, w := range windows {
		field := fmt.Sprintf("spec.maintenanceWindows[%d]", i)
		if _, err := plan.ParseSchedule(w.Schedule); err != nil {
			v.errorf("%s.schedule %q does not parse (%v): write five fields, minute hour day-of-month month day-of-week, "+
				"e.g. \"0 2 * * *\" for 02:00 every day", field, w.Schedule, err)
		}
		if w.TimeZone != "" {
			if _, err := time.LoadLocation(w.TimeZone); err != nil {
				v.errorf("%s.timeZone %q is not a known time zone: use an IANA name such as UTC or Europe/Berlin", field, w.TimeZone)
			}
		}
	}
}

// eachRule visits every volume rule the policy spells out, with its field path.
func eachRule(spec *v1alpha1.StorageAutoscalePolicySpec, visit func(field string, rule *v1alpha1.VolumePolicy)) {
	visit("spec.volumes.data", &spec.Volumes.Data)
	if spec.Volumes.WAL != nil {
		visit("spec.volumes.wal", spec.Volumes.WAL)
	}
	if ts := spec.Volumes.Tablespaces; ts != nil {
		if ts.Default != nil {
			visit("spec.volumes.tablespaces.default", ts.Default)
		}
		names := make([]string, 0, len(ts.ByName))
		for name := range ts.ByName {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			rule := ts.ByName[name]
			visit("spec.volumes.tablespaces.byName."+name, &rule)
		}
	}
}

func enabled(rule *v1alpha1.VolumePolicy) bool { return rule.Enabled == nil || *rule.Enabled }

func checkAgainstCluster(v *Verdict, spec *v1alpha1.StorageAutoscalePolicySpec, cluster *cnpgv1.Cluster) {
	name := cluster.Name
	checkLimit(v, "spec.volumes.data", &spec.Volumes.Data, cluster.Spec.StorageConfiguration, "spec.storage", name)

	if wal := cluster.Spec.WalStorage; wal != nil {
		switch {
		case spec.Volumes.WAL == nil:
			v.errorf("spec.volumes.wal is required: cluster %s has a separate WAL volume (spec.walStorage); set spec.volumes.wal.limit", name)
		case enabled(spec.Volumes.WAL) && spec.Volumes.WAL.Limit == nil:
			v.errorf("spec.volumes.wal.limit is required: cluster %s has a separate WAL volume (spec.walStorage); "+
				"set the ceiling no WAL volume is grown past, e.g. 50Gi", name)
		default:
			checkLimit(v, "spec.volumes.wal", spec.Volumes.WAL, *wal, "spec.walStorage", name)
		}
	} else {
		if !spec.WALSafety.AcknowledgeSingleVolume {
			v.errorf("spec.walSafety.acknowledgeSingleVolume is false, but cluster %s has no separate WAL volume (no spec.walStorage): "+
				"WAL lives on the data volume, so WAL safety will hold the data volume's planned growth; "+
				"set spec.walSafety.acknowledgeSingleVolume: true, or give the cluster spec.walStorage", name)
		}
		if spec.Volumes.WAL != nil {
			v.warnf("spec.volumes.wal is ignored: cluster %s has no separate WAL volume; WAL grows with spec.volumes.data", name)
		}
	}

	present := map[string]bool{}
	for _, tbs := range cluster.Spec.Tablespaces {
		present[tbs.Name] = true
		field, rule := tablespaceRule(spec, tbs.Name)
		switch {
		case rule == nil:
			v.errorf("spec.volumes.tablespaces is missing a rule for tablespace %s: cluster %s has it; "+
				"set spec.volumes.tablespaces.default.limit (or spec.volumes.tablespaces.byName.%s.limit)", tbs.Name, name, tbs.Name)
		case enabled(rule) && rule.Limit == nil:
			v.errorf("%s.limit is required: cluster %s has tablespace %s; set the ceiling its volumes are never grown past",
				field, name, tbs.Name)
		default:
			checkLimit(v, field, rule, tbs.Storage, "spec.tablespaces["+tbs.Name+"].storage", name)
		}
	}
	if ts := spec.Volumes.Tablespaces; ts != nil {
		var unknown []string
		for n := range ts.ByName {
			if !present[n] {
				unknown = append(unknown, n)
			}
		}
		sort.Strings(unknown)
		for _, n := range unknown {
			v.warnf("spec.volumes.tablespaces.byName.%s matches no tablespace of cluster %s; it applies once the cluster has one", n, name)
		}
	}
}

func tablespaceRule(spec *v1alpha1.StorageAutoscalePolicySpec, tablespace string) (string, *v1alpha1.VolumePolicy) {
	ts := spec.Volumes.Tablespaces
	if ts == nil {
		return "", nil
	}
	if rule, ok := ts.ByName[tablespace]; ok {
		return "spec.volumes.tablespaces.byName." + tablespace, &rule
	}
	if ts.Default != nil {
		return "spec.volumes.tablespaces.default", ts.Default
	}
	return "", nil
}

// checkLimit: a limit below what the cluster already asks for would leave
// the policy nothing to grow to, and says the user meant something else.
func checkLimit(v *Verdict, field string, rule *v1alpha1.VolumePolicy, storage cnpgv1.StorageConfiguration, clusterField, cluster string) {
	if rule.Limit == nil || !enabled(rule) {
		return
	}
	configured, source, ok := configuredSize(storage, clusterField)
	if !ok {
		return
	}
	if rule.Limit.Cmp(configured) < 0 {
		v.errorf("%s.limit %s is below cluster %s's %s %s: the limit is the ceiling volumes are grown to; "+
			"set %s.limit to at least %s", field, rule.Limit.String(), cluster, source, configured.String(), field, configured.String())
	}
}

func configuredSize(storage cnpgv1.StorageConfiguration, clusterField string) (resource.Quantity, string, bool) {
	if storage.Size != "" {
		q, err := resource.ParseQuantity(storage.Size)
		return q, clusterField + ".size", err == nil
	}
	if t := storage.PersistentVolumeClaimTemplate; t != nil {
		if q, ok := t.Resources.Requests[corev1.ResourceStorage]; ok {
			return q, clusterField + ".pvcTemplate.resources.requests.storage", true
		}
	}
	return resource.Quantity{}, "", false
}
