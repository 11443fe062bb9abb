package csidriver

import (
	"context"
	"errors"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func (d *Driver) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: d.cfg.NodeID}, nil
}

func (d *Driver) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	var caps []*csi.NodeServiceCapability
	for _, c := range []csi.NodeServiceCapability_RPC_Type{
		csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
		csi.NodeServiceCapability_RPC_EXPAND_VOLUME,
		csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
	} {
		caps = append(caps, &csi.NodeServiceCapability{Type: &csi.NodeServiceCapability_Rpc{
			Rpc: &csi.NodeServiceCapability_RPC{Type: c}}})
	}
	return &csi.NodeGetCapabilitiesResponse{Capabilities: caps}, nil
}

// NodeStageVolume attaches the file to a loop device and mounts it. An ext4
// filesystem that is smaller than its file (grown while mounted) is grown
// here, offline, before the mount.
func (d *Driver) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, err := d.loadMeta(req.GetVolumeId())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "volume %s: %v", req.GetVolumeId(), err)
	}
	target := req.GetStagingTargetPath()
	if mounted(target) {
		return &csi.NodeStageVolumeResponse{}, nil
	}
	dev, err := attach(ctx, d.volumeFile(m.ID))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	if m.FsType == "ext4" {
		// e2fsck first: resize2fs refuses a filesystem not freshly checked.
		if err := run(ctx, "e2fsck", "-fy", dev); err != nil && !fsckFixed(err) {
			return nil, status.Errorf(codes.Internal, "%v", err)
		}
		if err := run(ctx, "resize2fs", dev); err != nil {
			return nil, status.Errorf(codes.Internal, "%v", err)
		}
		if m.FilesystemBytes != m.SizeBytes {
			m.FilesystemBytes = m.SizeBytes
			if err := d.saveMeta(m); err != nil {
				return nil, status.Errorf(codes.Internal, "save metadata: %v", err)
			}
		}
	}
	if err := os.MkdirAll(target, 0o750); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	if err := run(ctx, "mount", "-t", m.FsType, dev, target); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	return &csi.NodeStageVolumeResponse{}, nil
}

func (d *Driver) NodeUnstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	target := req.GetStagingTargetPath()
	if mounted(target) {
		if err := run(ctx, "umount", target); err != nil {
			return nil, status.Errorf(codes.Internal, "%v", err)
		}
	}
	if dev, _ := loopDeviceOf(ctx, d.volumeFile(req.GetVolumeId())); dev != "" {
		if err := run(ctx, "losetup", "-d", dev); err != nil {
			return nil, status.Errorf(codes.Internal, "%v", err)
		}
	}
	return &csi.NodeUnstageVolumeResponse{}, nil
}

func (d *Driver) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	target := req.GetTargetPath()
	if mounted(target) {
		return &csi.NodePublishVolumeResponse{}, nil
	}
	if err := os.MkdirAll(target, 0o750); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	if err := run(ctx, "mount", "--bind", req.GetStagingTargetPath(), target); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	if req.GetReadonly() {
		if err := run(ctx, "mount", "-o", "remount,bind,ro", target); err != nil {
			return nil, status.Errorf(codes.Internal, "%v", err)
		}
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

func (d *Driver) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	target := req.GetTargetPath()
	if mounted(target) {
		if err := run(ctx, "umount", target); err != nil {
			return nil, status.Errorf(codes.Internal, "%v", err)
		}
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// NodeExpandVolume makes the loop device see the grown file, then grows an
// XFS filesystem online. ext4 cannot grow while mounted here: it answers
// FailedPrecondition and grows at the next NodeStageVolume.
func (d *Driver) NodeExpandVolume(ctx context.Context, req *csi.NodeExpandVolumeRequest) (*csi.NodeExpandVolumeResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, err := d.loadMeta(req.GetVolumeId())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "volume %s: %v", req.GetVolumeId(), err)
	}
	dev, err := loopDeviceOf(ctx, d.volumeFile(m.ID))
	if err != nil || dev == "" {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is not attached", m.ID)
	}
	if err := run(ctx, "losetup", "-c", dev); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	if m.FilesystemBytes >= m.SizeBytes {
		// Already grown (ext4: by NodeStageVolume, before this mount).
		return &csi.NodeExpandVolumeResponse{CapacityBytes: m.SizeBytes}, nil
	}
	switch m.FsType {
	case "xfs":
		if err := run(ctx, "xfs_growfs", req.GetVolumePath()); err != nil {
			return nil, status.Errorf(codes.Internal, "%v", err)
		}
	case "ext4":
		return nil, status.Errorf(codes.FailedPrecondition,
			"volume %s is ext4, which grows offline only here: it grows when the volume is next staged (delete the pod)", m.ID)
	}
	m.FilesystemBytes = m.SizeBytes
	if err := d.saveMeta(m); err != nil {
		return nil, status.Errorf(codes.Internal, "save metadata: %v", err)
	}
	return &csi.NodeExpandVolumeResponse{CapacityBytes: m.SizeBytes}, nil
}

// NodeGetVolumeStats reports bytes and inodes, so kubelet's volume metrics
// exist as they do on a cloud disk.
func (d *Driver) NodeGetVolumeStats(_ context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(req.GetVolumePath(), &st); err != nil {
		return nil, status.Errorf(codes.NotFound, "statfs %s: %v", req.GetVolumePath(), err)
	}
	bsize := int64(st.Bsize)
	total, avail := int64(st.Blocks)*bsize, int64(st.Bavail)*bsize
	return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
		{Unit: csi.VolumeUsage_BYTES, Total: total, Available: avail, Used: total - int64(st.Bfree)*bsize},
		{Unit: csi.VolumeUsage_INODES, Total: int64(st.Files), Available: int64(st.Ffree), Used: int64(st.Files - st.Ffree)},
	}}, nil
}
