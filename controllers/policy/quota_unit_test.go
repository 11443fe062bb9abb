package policy

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/plan"
)

func TestARefusalNamesTheQuotaAndTheClassItLimits(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	decision := plan.Decision{PVC: "orders-1", Kind: v1alpha1.GrowthPlanned, To: resource.MustParse("12Gi")}
	for _, tc := range []struct {
		name, message, quota, class string
		named                       bool
	}{
		{"namespace storage", `persistentvolumeclaims "orders-1" is forbidden: exceeded quota: storage, requested: requests.storage=2Gi, used: requests.storage=36Gi, limited: requests.storage=37Gi`, "storage", "", true},
		{"one class's storage", `persistentvolumeclaims "orders-1" is forbidden: exceeded quota: gold-quota, requested: gold.storageclass.storage.k8s.io/requests.storage=2Gi, used: gold.storageclass.storage.k8s.io/requests.storage=9Gi, limited: gold.storageclass.storage.k8s.io/requests.storage=10Gi`, "gold-quota", "gold", true},
		{"a class and the namespace exceeded", `exceeded quota: both, requested: gold.storageclass.storage.k8s.io/requests.storage=2Gi,requests.storage=2Gi, used: x, limited: y`, "both", "", true},
		{"two classes exceeded", `exceeded quota: two, requested: gold.storageclass.storage.k8s.io/requests.storage=2Gi,silver.storageclass.storage.k8s.io/requests.storage=2Gi, used: x, limited: y`, "two", "", true},
		{"no quota named", `forbidden: exceeded quota`, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refusal, named := refusalOf(tc.message, decision, now)
			if named != tc.named || refusal.Quota != tc.quota || refusal.StorageClass != tc.class {
				t.Fatalf("refusal %+v (named %v); want quota %q, class %q, named %v", refusal, named, tc.quota, tc.class, tc.named)
			}
			if named && (refusal.Kind != v1alpha1.GrowthPlanned || refusal.PVC != "orders-1" || !refusal.Time.Time.Equal(now) || refusal.Message != tc.message) {
				t.Errorf("refusal %+v does not carry the growth, the time and the message", refusal)
			}
		})
	}
}

func TestARefusalHoldsUntilItsIntervalEndsOrItsQuotaChanges(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	refused := func(ago time.Duration, quota, version string) v1alpha1.QuotaRefusal {
		return v1alpha1.QuotaRefusal{Quota: quota, QuotaVersion: version, Kind: v1alpha1.GrowthPlanned, Time: metav1.NewTime(now.Add(-ago))}
	}
	for _, tc := range []struct {
		name     string
		refusal  v1alpha1.QuotaRefusal
		versions map[string]string
		live     bool
	}{
		{"an unchanged quota inside the interval holds", refused(time.Minute, "storage", "7"), map[string]string{"storage": "7"}, true},
		{"the interval over, it is retried", refused(5*time.Minute, "storage", "7"), map[string]string{"storage": "7"}, false},
		{"the quota changed, it is retried at once", refused(time.Minute, "storage", "7"), map[string]string{"storage": "8"}, false},
		{"the quota deleted, it is retried at once", refused(time.Minute, "storage", "7"), map[string]string{"other": "7"}, false},
		{"a refusal naming no quota waits out the interval", refused(time.Minute, "", ""), map[string]string{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live := liveRefusals([]v1alpha1.QuotaRefusal{tc.refusal}, tc.versions, now, 5*time.Minute)
			if (len(live) == 1) != tc.live {
				t.Errorf("live %+v; want live %v", live, tc.live)
			}
		})
	}
}

func TestARefusalHoldsOnlyGrowthsTheSameQuotaWouldRefuse(t *testing.T) {
	refusal := func(kind v1alpha1.GrowthKind, class string) []v1alpha1.QuotaRefusal {
		return []v1alpha1.QuotaRefusal{{Quota: "q", Kind: kind, StorageClass: class}}
	}
	for _, tc := range []struct {
		name  string
		live  []v1alpha1.QuotaRefusal
		kind  v1alpha1.GrowthKind
		class string
		held  bool
	}{
		{"a planned refusal holds a planned growth", refusal(v1alpha1.GrowthPlanned, ""), v1alpha1.GrowthPlanned, "gold", true},
		{"a planned refusal never holds an emergency", refusal(v1alpha1.GrowthPlanned, ""), v1alpha1.GrowthEmergency, "gold", false},
		{"an emergency refusal holds an emergency", refusal(v1alpha1.GrowthEmergency, ""), v1alpha1.GrowthEmergency, "gold", true},
		{"an emergency refusal holds a planned growth", refusal(v1alpha1.GrowthEmergency, ""), v1alpha1.GrowthPlanned, "gold", true},
		{"a class quota holds its class", refusal(v1alpha1.GrowthPlanned, "gold"), v1alpha1.GrowthPlanned, "gold", true},
		{"a class quota does not hold another class", refusal(v1alpha1.GrowthPlanned, "gold"), v1alpha1.GrowthPlanned, "silver", false},
		{"nothing refused holds nothing", nil, v1alpha1.GrowthPlanned, "gold", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if held := quotaHold(tc.live, tc.kind, tc.class) != nil; held != tc.held {
				t.Errorf("held %v, want %v", held, tc.held)
			}
		})
	}
}

func TestANewRefusalReplacesTheOldOneOfTheSameQuotaClassAndKind(t *testing.T) {
	old := v1alpha1.QuotaRefusal{Quota: "q", Kind: v1alpha1.GrowthPlanned, QuotaVersion: "1"}
	other := v1alpha1.QuotaRefusal{Quota: "q", Kind: v1alpha1.GrowthEmergency, QuotaVersion: "1"}
	fresh := v1alpha1.QuotaRefusal{Quota: "q", Kind: v1alpha1.GrowthPlanned, QuotaVersion: "2"}
	got := withRefusal([]v1alpha1.QuotaRefusal{old, other}, fresh)
	if len(got) != 2 || got[0] != other || got[1] != fresh {
		t.Errorf("refusals %+v; want the emergency one and the fresh planned one", got)
	}
}
