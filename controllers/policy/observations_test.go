package policy

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

func TestRejectObservation(t *testing.T) {
	now := time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)
	pod := func(change func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "orders-2", UID: types.UID("uid-2"), Labels: map[string]string{labelCluster: "orders"}},
			Spec: corev1.PodSpec{Volumes: []corev1.Volume{
				{Name: "pgdata", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "orders-2"}}},
				{Name: "pg-wal", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "orders-2-wal"}}},
				{Name: "scratch-data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			}},
		}
		if change != nil {
			change(p)
		}
		return p
	}
	observation := func(change func(*v1alpha1.StorageObservation)) *v1alpha1.StorageObservation {
		at := metav1.NewMicroTime(now.Add(-10 * time.Second))
		o := &v1alpha1.StorageObservation{
			ObjectMeta: metav1.ObjectMeta{Name: "orders-2"},
			Spec:       v1alpha1.StorageObservationSpec{Cluster: "orders", Instance: "orders-2", PodUID: "uid-2"},
			Status: v1alpha1.StorageObservationStatus{ObservedAt: &at, Volumes: []v1alpha1.ObservedVolume{
				{Name: "pgdata", Role: v1alpha1.RoleData, PVC: "orders-2"},
				{Name: "pg-wal", Role: v1alpha1.RoleWAL, PVC: "orders-2-wal"},
			}},
		}
		if change != nil {
			change(o)
		}
		return o
	}
	observedAt := func(at time.Time) func(*v1alpha1.StorageObservation) {
		return func(o *v1alpha1.StorageObservation) { micro := metav1.NewMicroTime(at); o.Status.ObservedAt = &micro }
	}
	tests := []struct {
		name        string
		observation *v1alpha1.StorageObservation
		pod         *corev1.Pod
		wantReason  string // "" = believed
		wantMessage string
	}{
		{name: "an observation that agrees with its pod is believed", observation: observation(nil), pod: pod(nil)},
		{name: "an observation without status is believed: it says nothing",
			observation: observation(func(o *v1alpha1.StorageObservation) { o.Status = v1alpha1.StorageObservationStatus{} }), pod: pod(nil)},
		{name: "a volume without a PVC name is believed (the planner matches it by role)",
			observation: observation(func(o *v1alpha1.StorageObservation) { o.Status.Volumes[0].PVC = "" }), pod: pod(nil)},
		{name: "observedAt within the clock-skew allowance is believed",
			observation: observation(observedAt(now.Add(observationClockSkew))), pod: pod(nil)},
		{name: "spec.instance naming another instance is rejected (the replica claiming the primary)",
			observation: observation(func(o *v1alpha1.StorageObservation) { o.Spec.Instance = "orders-1" }), pod: pod(nil),
			wantReason:  rejectForeignInstance,
			wantMessage: "ForeignInstance: StorageObservation orders-2 claims spec.instance orders-1, but an observation describes only the pod it is named after"},
		{name: "no live pod of the cluster by that name is rejected",
			observation: observation(nil), pod: nil,
			wantReason:  rejectPodNotFound,
			wantMessage: "StorageObservation orders-2 names no instance pod of cluster orders"},
		{name: "a pod of another cluster is rejected",
			observation: observation(nil), pod: pod(func(p *corev1.Pod) { p.Labels[labelCluster] = "billing" }),
			wantReason:  rejectForeignCluster,
			wantMessage: `claims cluster orders, but pod orders-2 belongs to cluster "billing" (label cnpg.io/cluster)`},
		{name: "another pod's UID is rejected",
			observation: observation(func(o *v1alpha1.StorageObservation) { o.Spec.PodUID = "uid-1" }), pod: pod(nil),
			wantReason:  rejectPodUIDMismatch,
			wantMessage: "was written for pod UID uid-1, but pod orders-2 has UID uid-2"},
		{name: "a PVC the pod does not mount is rejected (another instance's volume)",
			observation: observation(func(o *v1alpha1.StorageObservation) { o.Status.Volumes[0].PVC = "orders-1" }), pod: pod(nil),
			wantReason:  rejectPVCNotMounted,
			wantMessage: "reports volume pgdata on PVC orders-1, which pod orders-2 does not mount (it mounts orders-2, orders-2-wal)"},
		{name: "observedAt beyond the clock-skew allowance is rejected",
			observation: observation(observedAt(now.Add(observationClockSkew + time.Second))), pod: pod(nil),
			wantReason:  rejectFromTheFuture,
			wantMessage: "has observedAt 2026-05-04T03:02:32Z, more than 30s ahead of the controller's clock"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			got, rejected := rejectObservation(test.observation, test.pod, "orders", now)
			if test.wantReason == "" {
				if rejected {
					t.Fatalf("rejected: %+v", got)
				}
				return
			}
			if !rejected || got.Reason != test.wantReason || got.Observation != "orders-2" || !strings.Contains(got.Message, test.wantMessage) {
				t.Fatalf("got rejected=%v %+v; want reason %s, message containing %q", rejected, got, test.wantReason, test.wantMessage)
			}
		})
	}
}
