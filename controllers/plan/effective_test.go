package plan

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

func TestEffectiveSizesOf(t *testing.T) {
	pvc := func(name string, role v1alpha1.VolumeRole, tablespace, request string) PVC {
		return PVC{Name: name, Role: role, Tablespace: tablespace, Request: resource.MustParse(request)}
	}
	// In name order, as the controller lists them: roles interleave.
	pvcs := []PVC{
		pvc("orders-1", v1alpha1.RoleData, "", "10Gi"),
		pvc("orders-1-idx", v1alpha1.RoleTablespace, "idx", "3Gi"),
		pvc("orders-1-wal", v1alpha1.RoleWAL, "", "2Gi"),
		pvc("orders-2", v1alpha1.RoleData, "", "12Gi"),
		pvc("orders-2-idx", v1alpha1.RoleTablespace, "idx", "4Gi"),
		pvc("orders-2-wal", v1alpha1.RoleWAL, "", "2Gi"),
	}
	for _, tc := range []struct {
		name      string
		growingTo map[string]resource.Quantity
		want      v1alpha1.EffectiveSizes
	}{
		{
			name: "with nothing growing a role is its largest request",
			want: v1alpha1.EffectiveSizes{Data: qty("12Gi"), WAL: qty("2Gi"), Tablespaces: map[string]resource.Quantity{"idx": resource.MustParse("4Gi")}},
		},
		{
			name:      "a PVC being grown raises its role to its new size",
			growingTo: map[string]resource.Quantity{"orders-1-wal": resource.MustParse("3Gi")},
			want:      v1alpha1.EffectiveSizes{Data: qty("12Gi"), WAL: qty("3Gi"), Tablespaces: map[string]resource.Quantity{"idx": resource.MustParse("4Gi")}},
		},
		{
			name:      "a growth below the role's largest request does not lower it",
			growingTo: map[string]resource.Quantity{"orders-1": resource.MustParse("11Gi")},
			want:      v1alpha1.EffectiveSizes{Data: qty("12Gi"), WAL: qty("2Gi"), Tablespaces: map[string]resource.Quantity{"idx": resource.MustParse("4Gi")}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := StatusEffectiveSizes(EffectiveSizesOf(pvcs, tc.growingTo))
			if got.Data.Cmp(*tc.want.Data) != 0 || got.WAL.Cmp(*tc.want.WAL) != 0 {
				t.Fatalf("data %s wal %s; want data %s wal %s", got.Data, got.WAL, tc.want.Data, tc.want.WAL)
			}
			for name, size := range tc.want.Tablespaces {
				if have, ok := got.Tablespaces[name]; !ok || have.Cmp(size) != 0 {
					t.Fatalf("tablespace %s: %v; want %s", name, got.Tablespaces, size.String())
				}
			}
		})
	}
}

func qty(s string) *resource.Quantity {
	q := resource.MustParse(s)
	return &q
}
