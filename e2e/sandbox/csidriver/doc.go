// Package csidriver is the sandbox's CSI driver: volumes are sparse files of
// exactly the requested size with a real filesystem, attached through loop
// devices and mounted by the real kubelet, created by the real
// external-provisioner and grown by the real external-resizer. It exists so
// that growth in the sandbox follows the Kubernetes expansion protocol end to
// end, as it does with Azure Disk on AKS.
//
// XFS volumes grow online (xfs_growfs on the mounted filesystem). ext4
// volumes grow offline only (this machine lacks CAP_SYS_RESOURCE, which
// online resize2fs needs): NodeExpandVolume refuses while mounted, and the
// filesystem is grown in NodeStageVolume, before the next mount.
//
// Faults on demand, from StorageClass parameters (recorded at CreateVolume)
// or from the PVC's annotations (read at expansion time):
//
//	sandbox.pgstorage.io/resize-latency: 20s       ControllerExpandVolume sleeps first
//	sandbox.pgstorage.io/resize-fault: infeasible  ControllerExpandVolume answers OutOfRange
//	sandbox.pgstorage.io/resize-fault: stuck       ControllerExpandVolume never answers in time
//	sandbox.pgstorage.io/max-size: 3Gi             ControllerExpandVolume answers OutOfRange past 3Gi, grows up to it
package csidriver
