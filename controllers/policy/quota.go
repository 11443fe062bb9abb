package policy

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

// A ResourceQuota refusal is remembered per quota, StorageClass and growth
// kind (status.quotaRefusals), so that it holds back only the growths the
// same quota would refuse again: a PVC of another class under a class
// quota is not held, an emergency growth is never held by a planned
// growth's refusal, and a change of the quota (raised, or its usage fell)
// retries at once rather than after the retry interval.

// maxQuotaRefusals bounds status.quotaRefusals (the CRD's MaxItems).
const maxQuotaRefusals = 16

// exceededQuota finds the quota's name in the ResourceQuota admission
// plugin's message: "exceeded quota: <name>, requested: <resource>=<n>[,
// <resource>=<n>], used: ..., limited: ...".
var exceededQuota = regexp.MustCompile(`exceeded quota: ([^,\s]+), requested: (.*?), used: `)

// storageClassResource is the suffix of a quota resource that limits one
// StorageClass: "<class>.storageclass.storage.k8s.io/requests.storage".
const storageClassResource = ".storageclass.storage.k8s.io/"

// refusalOf reads a quota refusal from the API server's message. Its
// StorageClass is set when every resource the patch exceeded is limited
// for that class only. ok is false when the message names no quota.
func refusalOf(message string, decision plan.Decision, now time.Time) (v1alpha1.QuotaRefusal, bool) {
	match := exceededQuota.FindStringSubmatch(message)
	if match == nil {
		return v1alpha1.QuotaRefusal{}, false
	}
	class := ""
	for index, item := range strings.Split(match[2], ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(item), "=")
		itemClass, _, scoped := strings.Cut(name, storageClassResource)
		if !scoped || (index > 0 && itemClass != class) {
			class = ""
			break
		}
		class = itemClass
	}
	return v1alpha1.QuotaRefusal{
		Quota: match[1], StorageClass: class, Kind: decision.Kind, PVC: decision.PVC,
		Time: metav1.NewTime(now.Truncate(time.Second)), Message: message,
	}, true
}

// liveRefusals keeps the refusals whose retry interval still runs and whose
// quota is unchanged since it refused (quotaVersions: resourceVersion by
// quota name; a quota gone is a change).
func liveRefusals(refusals []v1alpha1.QuotaRefusal, quotaVersions map[string]string, now time.Time, interval time.Duration) []v1alpha1.QuotaRefusal {
	var live []v1alpha1.QuotaRefusal
	for _, refusal := range refusals {
		version, exists := quotaVersions[refusal.Quota]
		if refusal.Quota == "" {
			// A refusal whose message named no quota waits out the interval.
			version, exists = "", true
		}
		if exists && version == refusal.QuotaVersion && now.Before(refusal.Time.Add(interval)) {
			live = append(live, refusal)
		}
	}
	return live
}

// quotaHold is the live refusal that holds a growth of kind of a PVC of
// class, or nil: one of the same quota scope (the namespace's storage, or
// this class's), and not a planned growth's refusal holding an emergency.
func quotaHold(live []v1alpha1.QuotaRefusal, kind v1alpha1.GrowthKind, class string) *v1alpha1.QuotaRefusal {
	for index := range live {
		refusal := &live[index]
		if refusal.StorageClass != "" && refusal.StorageClass != class {
			continue
		}
		if refusal.Kind == v1alpha1.GrowthPlanned && kind == v1alpha1.GrowthEmergency {
			continue
		}
		return refusal
	}
	return nil
}

// withRefusal records a new refusal in place of an older one of the same
// quota, class and kind, newest last, at most maxQuotaRefusals.
func withRefusal(live []v1alpha1.QuotaRefusal, refusal v1alpha1.QuotaRefusal) []v1alpha1.QuotaRefusal {
	live = slices.DeleteFunc(slices.Clone(live), func(old v1alpha1.QuotaRefusal) bool {
		return old.Quota == refusal.Quota && old.StorageClass == refusal.StorageClass && old.Kind == refusal.Kind
	})
	live = append(live, refusal)
	if len(live) > maxQuotaRefusals {
		live = live[len(live)-maxQuotaRefusals:]
	}
	return live
}

// quotaRetryAt is when the earliest live refusal's retry interval ends.
func quotaRetryAt(live []v1alpha1.QuotaRefusal, interval time.Duration) time.Time {
	var earliest time.Time
	for _, refusal := range live {
		if at := refusal.Time.Add(interval); earliest.IsZero() || at.Before(earliest) {
			earliest = at
		}
	}
	return earliest
}

// refusalReason is what a held or refused PVC's row and the Blocked
// condition say: which quota, for which growth, and what ends the wait.
func refusalReason(refusal v1alpha1.QuotaRefusal, interval time.Duration) string {
	scope := "the namespace's storage"
	if refusal.StorageClass != "" {
		scope = "StorageClass " + refusal.StorageClass
	}
	return fmt.Sprintf("ResourceQuota %s (%s) refused the %s growth of %s at %s; retried at %s, or at once when the quota changes: %s",
		refusal.Quota, scope, strings.ToLower(string(refusal.Kind)), refusal.PVC, refusal.Time.UTC().Format(time.RFC3339),
		refusal.Time.Add(interval).UTC().Format(time.RFC3339), refusal.Message)
}

// quotaVersions are the resourceVersions of the namespace's ResourceQuotas,
// read from the cache the quota watch keeps.
func (r *Reconciler) quotaVersions(ctx context.Context, namespace string) (map[string]string, error) {
	var quotas corev1.ResourceQuotaList
	if err := r.Client.List(ctx, &quotas, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list ResourceQuotas of namespace %s: %w", namespace, err)
	}
	versions := make(map[string]string, len(quotas.Items))
	for _, quota := range quotas.Items {
		versions[quota.Name] = quota.ResourceVersion
	}
	return versions, nil
}

func storageClassOf(pvc *corev1.PersistentVolumeClaim) string {
	if pvc.Spec.StorageClassName == nil {
		return ""
	}
	return *pvc.Spec.StorageClassName
}
