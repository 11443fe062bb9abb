package csidriver

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const minVolumeBytes = 300 << 20 // mkfs.xfs refuses smaller filesystems

func (d *Driver) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var caps []*csi.ControllerServiceCapability
	for _, c := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
	} {
		caps = append(caps, &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{
			Rpc: &csi.ControllerServiceCapability_RPC{Type: c}}})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

// CreateVolume makes a sparse file of exactly the requested size and a
// filesystem on it.
func (d *Driver) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume name missing")
	}
	size := max(req.GetCapacityRange().GetRequiredBytes(), minVolumeBytes)
	if limit := req.GetCapacityRange().GetLimitBytes(); limit > 0 && size > limit {
		return nil, status.Errorf(codes.OutOfRange, "smallest volume is %d bytes, above the limit %d", size, limit)
	}
	fsType := requestedFsType(req.GetVolumeCapabilities())
	if fsType != "xfs" && fsType != "ext4" {
		return nil, status.Errorf(codes.InvalidArgument, "fstype %q: this driver makes xfs or ext4", fsType)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	id := req.GetName()
	if m, err := d.loadMeta(id); err == nil {
		// Idempotent: the provisioner retries after timeouts.
		return createResponse(m), nil
	}
	file := d.volumeFile(id)
	f, err := os.Create(file)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "create %s: %v", file, err)
	}
	err = f.Truncate(size)
	f.Close()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "size %s: %v", file, err)
	}
	if err := mkfs(ctx, fsType, file); err != nil {
		os.Remove(file)
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	m := volumeMeta{
		ID: id, FsType: fsType, SizeBytes: size, FilesystemBytes: size, Parameters: req.GetParameters(),
		PVCName: req.GetParameters()[pvcNameParam], PVCNamespace: req.GetParameters()[pvcNamespaceParam],
	}
	if err := d.saveMeta(m); err != nil {
		return nil, status.Errorf(codes.Internal, "save metadata: %v", err)
	}
	return createResponse(m), nil
}

// requestedFsType is the filesystem the StorageClass asked for. The
// external-provisioner strips csi.storage.k8s.io/fstype from the parameters
// and hands it over in the volume capability instead.
func requestedFsType(caps []*csi.VolumeCapability) string {
	for _, c := range caps {
		if fs := c.GetMount().GetFsType(); fs != "" {
			return fs
		}
	}
	return "xfs"
}

func createResponse(m volumeMeta) *csi.CreateVolumeResponse {
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{VolumeId: m.ID, CapacityBytes: m.SizeBytes}}
}

func (d *Driver) DeleteVolume(_ context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := req.GetVolumeId()
	if _, err := d.loadMeta(id); errors.Is(err, os.ErrNotExist) {
		return &csi.DeleteVolumeResponse{}, nil
	}
	if dev, _ := loopDeviceOf(context.Background(), d.volumeFile(id)); dev != "" {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is still attached at %s", id, dev)
	}
	for _, f := range []string{d.volumeFile(id), d.metaFile(id)} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, status.Errorf(codes.Internal, "remove %s: %v", f, err)
		}
	}
	return &csi.DeleteVolumeResponse{}, nil
}

func (d *Driver) ValidateVolumeCapabilities(_ context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	if _, err := d.loadMeta(req.GetVolumeId()); err != nil {
		return nil, status.Errorf(codes.NotFound, "volume %s: %v", req.GetVolumeId(), err)
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeCapabilities: req.GetVolumeCapabilities()}}, nil
}

// ControllerExpandVolume grows the volume's file. The filesystem follows in
// NodeExpandVolume (xfs, online) or at the next NodeStageVolume (ext4).
func (d *Driver) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	id := req.GetVolumeId()
	m, err := d.loadMeta(id)
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "volume %s: %v", id, err)
	}
	size := req.GetCapacityRange().GetRequiredBytes()
	if err := d.injectFault(ctx, m, size); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if m, err = d.loadMeta(id); err != nil { // fresh, under the lock
		return nil, status.Errorf(codes.NotFound, "volume %s: %v", id, err)
	}
	if size > m.SizeBytes {
		if err := os.Truncate(d.volumeFile(id), size); err != nil {
			return nil, status.Errorf(codes.Internal, "grow %s: %v", id, err)
		}
		m.SizeBytes = size
		if err := d.saveMeta(m); err != nil {
			return nil, status.Errorf(codes.Internal, "save metadata: %v", err)
		}
	}
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: m.SizeBytes, NodeExpansionRequired: true}, nil
}

func mkfs(ctx context.Context, fsType, file string) error {
	var err error
	switch fsType {
	case "xfs":
		err = run(ctx, "mkfs.xfs", "-q", file)
	case "ext4":
		err = run(ctx, "mkfs.ext4", "-q", "-F", file)
	}
	if err != nil {
		return fmt.Errorf("mkfs.%s: %w", fsType, err)
	}
	return nil
}
