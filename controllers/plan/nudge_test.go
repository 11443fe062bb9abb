package plan

import (
	"reflect"
	"testing"

	"k8s.io/utils/ptr"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// nudgeWorld is a 2-instance cluster "orders" with data and WAL PVCs, all
// settled, each pod running on a node and mounting its own PVCs.
func nudgeWorld() NudgeSnapshot {
	snapshot := NudgeSnapshot{Policy: v1alpha1.StorageAutoscalePolicySpec{
		ClusterRef: v1alpha1.ClusterReference{Name: "orders"}, NudgeKubelet: ptr.To(true),
	}}
	for _, instance := range []string{"orders-1", "orders-2"} {
		snapshot.PVCs = append(snapshot.PVCs,
			NudgePVC{Name: instance, Target: giQuantity(10)},
			NudgePVC{Name: instance + "-wal", Target: giQuantity(2)})
		snapshot.Pods = append(snapshot.Pods, NudgePod{
			Name: instance, Cluster: "orders", Role: "instance", Node: "node-" + instance,
			Claims: []string{instance, instance + "-wal"},
		})
	}
	return snapshot
}

func nodeResizePendingTo(name string, targetGi int64) func(*NudgeSnapshot) {
	return func(s *NudgeSnapshot) {
		for index := range s.PVCs {
			if s.PVCs[index].Name == name {
				s.PVCs[index].AllocatedResourceStatus = "NodeResizePending"
				s.PVCs[index].Target = giQuantity(targetGi)
			}
		}
	}
}

func editPod(name string, edit func(*NudgePod)) func(*NudgeSnapshot) {
	return func(s *NudgeSnapshot) {
		for index := range s.Pods {
			if s.Pods[index].Name == name {
				edit(&s.Pods[index])
			}
		}
	}
}

func TestKubeletNudges(t *testing.T) {
	for _, test := range []struct {
		name  string
		edits []func(*NudgeSnapshot)
		want  []Nudge
	}{
		{
			name: "nothing waits for kubelet: no nudge",
		},
		{
			name:  "a PVC in NodeResizePending nudges the pod that mounts it, with the PVC and its target",
			edits: []func(*NudgeSnapshot){nodeResizePendingTo("orders-2", 12)},
			want:  []Nudge{{Pod: "orders-2", PVCs: []string{"orders-2"}, Value: "orders-2@12Gi"}},
		},
		{
			name: "FileSystemResizePending alone (no allocatedResourceStatuses) nudges too",
			edits: []func(*NudgeSnapshot){func(s *NudgeSnapshot) {
				s.PVCs[1].FileSystemResizePending = true
				s.PVCs[1].Target = giQuantity(3)
			}},
			want: []Nudge{{Pod: "orders-1", PVCs: []string{"orders-1-wal"}, Value: "orders-1-wal@3Gi"}},
		},
		{
			name: "other stages of the protocol are not kubelet's to speed up",
			edits: []func(*NudgeSnapshot){func(s *NudgeSnapshot) {
				s.PVCs[0].AllocatedResourceStatus = "ControllerResizeInProgress"
				s.PVCs[1].AllocatedResourceStatus = "NodeResizeInProgress"
				s.PVCs[2].AllocatedResourceStatus = "NodeResizeInfeasible"
			}},
		},
		{
			name: "already nudged for this growth: the annotation remembers it, no second nudge",
			edits: []func(*NudgeSnapshot){nodeResizePendingTo("orders-1", 12),
				editPod("orders-1", func(p *NudgePod) { p.Annotation = "orders-1@12Gi" })},
		},
		{
			name: "a later growth of the same PVC is a new growth: nudged again",
			edits: []func(*NudgeSnapshot){nodeResizePendingTo("orders-1", 15),
				editPod("orders-1", func(p *NudgePod) { p.Annotation = "orders-1@12Gi" })},
			want: []Nudge{{Pod: "orders-1", PVCs: []string{"orders-1"}, Value: "orders-1@15Gi"}},
		},
		{
			name:  "data and WAL of one pod waiting together: one nudge naming both, sorted",
			edits: []func(*NudgeSnapshot){nodeResizePendingTo("orders-1-wal", 3), nodeResizePendingTo("orders-1", 12)},
			want:  []Nudge{{Pod: "orders-1", PVCs: []string{"orders-1", "orders-1-wal"}, Value: "orders-1-wal@3Gi,orders-1@12Gi"}},
		},
		{
			name: "WAL starts waiting after data was nudged: nudged for WAL, the value keeps data's growth",
			edits: []func(*NudgeSnapshot){nodeResizePendingTo("orders-1", 12), nodeResizePendingTo("orders-1-wal", 3),
				editPod("orders-1", func(p *NudgePod) { p.Annotation = "orders-1@12Gi" })},
			want: []Nudge{{Pod: "orders-1", PVCs: []string{"orders-1-wal"}, Value: "orders-1-wal@3Gi,orders-1@12Gi"}},
		},
		{
			name:  "several pods: one nudge each, in pod order",
			edits: []func(*NudgeSnapshot){nodeResizePendingTo("orders-2", 12), nodeResizePendingTo("orders-1", 12)},
			want: []Nudge{
				{Pod: "orders-1", PVCs: []string{"orders-1"}, Value: "orders-1@12Gi"},
				{Pod: "orders-2", PVCs: []string{"orders-2"}, Value: "orders-2@12Gi"},
			},
		},
		{
			name: "nudgeKubelet: false turns it off",
			edits: []func(*NudgeSnapshot){nodeResizePendingTo("orders-1", 12),
				func(s *NudgeSnapshot) { s.Policy.NudgeKubelet = ptr.To(false) }},
		},
		{
			name: "nudgeKubelet unset is the default: on",
			edits: []func(*NudgeSnapshot){nodeResizePendingTo("orders-1", 12),
				func(s *NudgeSnapshot) { s.Policy.NudgeKubelet = nil }},
			want: []Nudge{{Pod: "orders-1", PVCs: []string{"orders-1"}, Value: "orders-1@12Gi"}},
		},
		{
			name: "DryRun patches nothing, pods included",
			edits: []func(*NudgeSnapshot){nodeResizePendingTo("orders-1", 12),
				func(s *NudgeSnapshot) { s.Policy.Mode = v1alpha1.ModeDryRun }},
		},
		{
			name: "a pod of another cluster that mounts the PVC is never touched",
			edits: []func(*NudgeSnapshot){nodeResizePendingTo("orders-1", 12),
				editPod("orders-1", func(p *NudgePod) { p.Cluster = "billing" })},
		},
		{
			name: "a pod of the cluster that is not an instance pod is never touched",
			edits: []func(*NudgeSnapshot){nodeResizePendingTo("orders-1", 12),
				editPod("orders-1", func(p *NudgePod) { p.Role = "pooler" })},
		},
		{
			name: "a pod on no node has no kubelet to nudge",
			edits: []func(*NudgeSnapshot){nodeResizePendingTo("orders-1", 12),
				editPod("orders-1", func(p *NudgePod) { p.Node = "" })},
		},
		{
			name: "a terminating pod is not nudged",
			edits: []func(*NudgeSnapshot){nodeResizePendingTo("orders-1", 12),
				editPod("orders-1", func(p *NudgePod) { p.Terminating = true })},
		},
		{
			name: "only the pod that mounts the PVC is nudged, whatever its name",
			edits: []func(*NudgeSnapshot){nodeResizePendingTo("orders-1", 12),
				editPod("orders-1", func(p *NudgePod) { p.Claims = []string{"orders-1-wal"} }),
				editPod("orders-2", func(p *NudgePod) { p.Claims = append(p.Claims, "orders-1") })},
			want: []Nudge{{Pod: "orders-2", PVCs: []string{"orders-1"}, Value: "orders-1@12Gi"}},
		},
		{
			name: "a PVC no running pod mounts: no nudge (kubelet grows it when it mounts it)",
			edits: []func(*NudgeSnapshot){nodeResizePendingTo("orders-1", 12),
				editPod("orders-1", func(p *NudgePod) { p.Claims = nil })},
		},
	} {
		t.Run(test.name, func(t *testing.T) {
			snapshot := nudgeWorld()
			for _, edit := range test.edits {
				edit(&snapshot)
			}
			got := KubeletNudges(snapshot)
			if !reflect.DeepEqual(got, test.want) {
				t.Fatalf("nudges %+v, want %+v", got, test.want)
			}
			// Applying the nudges leaves nothing more to nudge: at most
			// once per growth.
			for _, nudge := range got {
				editPod(nudge.Pod, func(p *NudgePod) { p.Annotation = nudge.Value })(&snapshot)
			}
			if again := KubeletNudges(snapshot); len(again) != 0 {
				t.Fatalf("after the nudges were applied, nudged again: %+v", again)
			}
		})
	}
}
