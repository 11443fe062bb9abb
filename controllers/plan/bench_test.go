package plan

import (
	"fmt"
	"testing"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// nineInstanceSnapshot is the benchmark's cluster: 9 instances, each with
// data, WAL and two tablespace volumes (36 PVCs), a nightly window, some
// volumes above the trigger (queued) and one critical (grown now,
// with its role).
func nineInstanceSnapshot(t testing.TB) Snapshot {
	b := newSnapshot(t).policy(nightlyWindow)
	for index := range 9 {
		name := fmt.Sprintf("orders-%d", index+1)
		role := v1alpha1.InstanceReplica
		if index == 0 {
			role = v1alpha1.InstancePrimary
		}
		used := 40 + float64(index)*6
		if index == 8 {
			used = 96
		}
		b.instance(name, role).
			data(name, 100, used).
			wal(name, 20, used/2).
			volume(name, v1alpha1.RoleTablespace, "idx", 50, used).
			volume(name, v1alpha1.RoleTablespace, "archive", 80, 30)
	}
	return b.build()
}

func BenchmarkPlan(b *testing.B) {
	snapshot := nineInstanceSnapshot(b)
	if result := Plan(snapshot); len(result.Decisions) == 0 || len(result.Volumes) != 36 {
		b.Fatalf("benchmark scenario does not exercise growth: %d decisions, %d rows", len(result.Decisions), len(result.Volumes))
	}
	b.ReportAllocs()
	for b.Loop() {
		Plan(snapshot)
	}
}
