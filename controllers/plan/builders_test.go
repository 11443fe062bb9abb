package plan

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// testNow is a Friday, 10:00 UTC.
var testNow = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

const (
	testClass = "standard"
	// testOverhead is the share of a PVC the filesystem gets (statfs total /
	// PVC capacity), as on a small XFS volume.
	testOverhead = 0.97
)

func gi(n int64) int64 { return n * gibibyte }

func giQuantity(n int64) resource.Quantity { return quantityOf(gi(n)) }

func quantityPtr(q resource.Quantity) *resource.Quantity { return &q }

// snapshotBuilder builds a cluster scenario: instances, their volumes and
// how full they are, a defaulted policy, one expandable StorageClass.
type snapshotBuilder struct {
	t        testing.TB
	snapshot Snapshot
}

func newSnapshot(t testing.TB) *snapshotBuilder {
	t.Helper()
	spec := v1alpha1.StorageAutoscalePolicySpec{
		ClusterRef: v1alpha1.ClusterReference{Name: "orders"},
		Volumes: v1alpha1.VolumesSpec{
			Data: v1alpha1.VolumePolicy{Limit: quantityPtr(giQuantity(500))},
			WAL:  &v1alpha1.VolumePolicy{Limit: quantityPtr(giQuantity(100))},
			Tablespaces: &v1alpha1.TablespacesSpec{
				Default: &v1alpha1.VolumePolicy{Limit: quantityPtr(giQuantity(200))},
			},
		},
	}
	spec.Default()
	return &snapshotBuilder{t: t, snapshot: Snapshot{
		Now:    testNow,
		Policy: spec,
		StorageClasses: []StorageClass{{
			Name: testClass, Provisioner: "csi.example.com", AllowVolumeExpansion: true,
		}},
	}}
}

// instance adds an instance whose PostgreSQL answers, archives fine, and
// whose observation is 30s old.
func (b *snapshotBuilder) instance(name string, role v1alpha1.InstanceRole) *snapshotBuilder {
	b.t.Helper()
	observedAt := metav1.NewMicroTime(b.snapshot.Now.Add(-30 * time.Second))
	b.snapshot.Observations = append(b.snapshot.Observations, Observation{
		Instance: name,
		Status: v1alpha1.StorageObservationStatus{
			ObservedAt: &observedAt,
			Role:       role,
			Postgres: v1alpha1.PostgresObservation{
				Reachable: true,
				Archiving: &v1alpha1.ArchivingObservation{Enabled: true, Healthy: true},
			},
		},
	})
	if role == v1alpha1.InstancePrimary {
		b.snapshot.Primary = name
	}
	return b
}

// volume adds a bound PVC of sizeGi and its observed filesystem, usedPercent full.
func (b *snapshotBuilder) volume(instance string, role v1alpha1.VolumeRole, tablespace string, sizeGi int64, usedPercent float64) *snapshotBuilder {
	b.t.Helper()
	name := pvcName(instance, role, tablespace)
	b.snapshot.PVCs = append(b.snapshot.PVCs, PVC{
		Name: name, Instance: instance, Role: role, Tablespace: tablespace,
		StorageClass: testClass, Request: giQuantity(sizeGi), Capacity: giQuantity(sizeGi),
	})
	capacity := int64(float64(gi(sizeGi)) * testOverhead)
	available := int64(float64(capacity) * (100 - usedPercent) / 100)
	observation := b.observationOf(instance)
	observation.Status.Volumes = append(observation.Status.Volumes, v1alpha1.ObservedVolume{
		Name: name, Role: role, Tablespace: tablespace, PVC: name, MountPath: "/var/lib/postgresql/" + name,
		CapacityBytes: capacity, UsedBytes: capacity - available, AvailableBytes: available,
		InodesTotal: 1_000_000, InodesFree: 900_000,
	})
	return b
}

func (b *snapshotBuilder) data(instance string, sizeGi int64, usedPercent float64) *snapshotBuilder {
	b.t.Helper()
	return b.volume(instance, v1alpha1.RoleData, "", sizeGi, usedPercent)
}

func (b *snapshotBuilder) wal(instance string, sizeGi int64, usedPercent float64) *snapshotBuilder {
	b.t.Helper()
	return b.volume(instance, v1alpha1.RoleWAL, "", sizeGi, usedPercent)
}

func pvcName(instance string, role v1alpha1.VolumeRole, tablespace string) string {
	switch role {
	case v1alpha1.RoleWAL:
		return instance + "-wal"
	case v1alpha1.RoleTablespace:
		return instance + "-tbs-" + tablespace
	}
	return instance
}

func (b *snapshotBuilder) observationOf(instance string) *Observation {
	b.t.Helper()
	for index := range b.snapshot.Observations {
		if b.snapshot.Observations[index].Instance == instance {
			return &b.snapshot.Observations[index]
		}
	}
	b.t.Fatalf("no instance %s in the scenario", instance)
	return nil
}

func (b *snapshotBuilder) policy(edit func(*v1alpha1.StorageAutoscalePolicySpec)) *snapshotBuilder {
	b.t.Helper()
	edit(&b.snapshot.Policy)
	return b
}

func (b *snapshotBuilder) pvc(name string, edit func(*PVC)) *snapshotBuilder {
	b.t.Helper()
	for index := range b.snapshot.PVCs {
		if b.snapshot.PVCs[index].Name == name {
			edit(&b.snapshot.PVCs[index])
			return b
		}
	}
	b.t.Fatalf("no PVC %s in the scenario", name)
	return b
}

func (b *snapshotBuilder) observed(instance string, edit func(*v1alpha1.StorageObservationStatus)) *snapshotBuilder {
	b.t.Helper()
	edit(&b.observationOf(instance).Status)
	return b
}

func (b *snapshotBuilder) observedVolume(name string, edit func(*v1alpha1.ObservedVolume)) *snapshotBuilder {
	b.t.Helper()
	for index := range b.snapshot.Observations {
		volumes := b.snapshot.Observations[index].Status.Volumes
		for volumeIndex := range volumes {
			if volumes[volumeIndex].PVC == name {
				edit(&volumes[volumeIndex])
				return b
			}
		}
	}
	b.t.Fatalf("no observed volume %s in the scenario", name)
	return b
}

// fillingNow makes the observation of pvc's instance a second old, with
// pvc filling at bytesPerSecond over the sidecar's last two measurements
// (its latest rate), a fill that has gone on for a minute.
func (b *snapshotBuilder) fillingNow(instance, pvc string, bytesPerSecond int64) *snapshotBuilder {
	b.t.Helper()
	return b.observedAgo(instance, time.Second).
		observedVolume(pvc, func(v *v1alpha1.ObservedVolume) {
			v.LatestFillRateBytesPerSecond, v.LatestFillBytes = bytesPerSecond, 60*bytesPerSecond
		})
}

// observedAgo dates the observation of instance ago before now.
func (b *snapshotBuilder) observedAgo(instance string, ago time.Duration) *snapshotBuilder {
	b.t.Helper()
	return b.observed(instance, func(status *v1alpha1.StorageObservationStatus) {
		at := metav1.NewMicroTime(b.snapshot.Now.Add(-ago))
		status.ObservedAt = &at
	})
}

func (b *snapshotBuilder) at(now time.Time) *snapshotBuilder {
	b.t.Helper()
	shift := now.Sub(b.snapshot.Now)
	b.snapshot.Now = now
	for index := range b.snapshot.Observations {
		if at := b.snapshot.Observations[index].Status.ObservedAt; at != nil {
			shifted := metav1.NewMicroTime(at.Add(shift))
			b.snapshot.Observations[index].Status.ObservedAt = &shifted
		}
	}
	return b
}

func (b *snapshotBuilder) budgetAction(ago time.Duration, kind v1alpha1.GrowthKind, role v1alpha1.VolumeRole, toGi int64) *snapshotBuilder {
	b.t.Helper()
	b.snapshot.Budget = append(b.snapshot.Budget, v1alpha1.BudgetAction{
		Time: metav1.NewTime(b.snapshot.Now.Add(-ago)), Kind: kind, Role: role, To: giQuantity(toGi),
	})
	return b
}

// grown records in status.history a growth of the PVCs ago.
func (b *snapshotBuilder) grown(ago time.Duration, pvcs ...string) *snapshotBuilder {
	b.t.Helper()
	b.snapshot.History = append(b.snapshot.History, v1alpha1.GrowthRecord{
		Time: metav1.NewTime(b.snapshot.Now.Add(-ago)), Role: v1alpha1.RoleData, PVCs: pvcs,
		Kind: v1alpha1.GrowthPlanned, Outcome: v1alpha1.OutcomeSucceeded,
	})
	return b
}

func (b *snapshotBuilder) build() Snapshot {
	b.t.Helper()
	return b.snapshot
}

// threeInstances is orders-1 (primary), -2, -3 with data and WAL volumes.
func threeInstances(t testing.TB, dataGi int64, dataUsed []float64, walGi int64, walUsed []float64) *snapshotBuilder {
	t.Helper()
	b := newSnapshot(t)
	for index := range 3 {
		name := fmt.Sprintf("orders-%d", index+1)
		role := v1alpha1.InstanceReplica
		if index == 0 {
			role = v1alpha1.InstancePrimary
		}
		b.instance(name, role).data(name, dataGi, dataUsed[index]).wal(name, walGi, walUsed[index])
	}
	return b
}

// Result lookups.

func decisionFor(result Result, pvc string) *Decision {
	for index := range result.Decisions {
		if result.Decisions[index].PVC == pvc {
			return &result.Decisions[index]
		}
	}
	return nil
}

func rowFor(t *testing.T, result Result, pvc string) VolumeRow {
	t.Helper()
	for _, row := range result.Volumes {
		if row.PVC == pvc {
			return row
		}
	}
	t.Fatalf("no status row for PVC %s", pvc)
	return VolumeRow{}
}

func effectiveSize(result Result, role v1alpha1.VolumeRole, tablespace string) int64 {
	for _, size := range result.EffectiveSizes {
		if size.Role == role && size.Tablespace == tablespace {
			return bytesOf(size.Size)
		}
	}
	return -1
}
