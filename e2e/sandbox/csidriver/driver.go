package csidriver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"k8s.io/client-go/kubernetes"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

const (
	// Name is the driver's name in CSIDriver objects and StorageClasses.
	Name    = "sandbox.csi.pgstorage.io"
	version = "1.0.0"

	// Fault parameters and annotations.
	FaultAnnotationLatency = "sandbox.pgstorage.io/resize-latency"
	FaultAnnotation        = "sandbox.pgstorage.io/resize-fault"
	FaultInfeasible        = "infeasible"
	FaultStuck             = "stuck"
	// FaultAnnotationMaxSize (a size such as 3Gi) is a disk type's largest
	// size: a growth past it is refused as infeasible, one up to it
	// succeeds, so a request lowered after a refusal can be granted.
	FaultAnnotationMaxSize = "sandbox.pgstorage.io/max-size"
	faultMaxSize           = "max-size" // the fault's name in the driver's messages

	pvcNameParam      = "csi.storage.k8s.io/pvc/name"
	pvcNamespaceParam = "csi.storage.k8s.io/pvc/namespace"
)

// Config is what the driver needs to run.
type Config struct {
	Endpoint        string // unix socket path for the CSI services
	RegistrationDir string // kubelet's plugins_registry directory
	StateDir        string // where volume files and their metadata live
	NodeID          string
	Kube            kubernetes.Interface // reads PVC annotations for faults; may be nil
	Log             *slog.Logger
}

// Driver implements the CSI identity, controller and node services.
type Driver struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer
	csi.UnimplementedNodeServer
	cfg Config
	mu  sync.Mutex // serializes volume operations: one loop device per volume
}

// volumeMeta is stored next to each volume's file.
type volumeMeta struct {
	ID        string `json:"id"`
	FsType    string `json:"fsType"`
	SizeBytes int64  `json:"sizeBytes"`
	// FilesystemBytes is the size the filesystem was last made or grown
	// to; below SizeBytes while a growth waits for the node.
	FilesystemBytes int64             `json:"filesystemBytes"`
	PVCName         string            `json:"pvcName,omitempty"`
	PVCNamespace    string            `json:"pvcNamespace,omitempty"`
	Parameters      map[string]string `json:"parameters,omitempty"`
}

// Run serves the CSI services and kubelet's plugin registration until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	d := &Driver{cfg: cfg}
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return err
	}
	csiServer, err := serve(cfg.Endpoint, func(s *grpc.Server) {
		csi.RegisterIdentityServer(s, d)
		csi.RegisterControllerServer(s, d)
		csi.RegisterNodeServer(s, d)
	}, cfg.Log)
	if err != nil {
		return err
	}
	defer csiServer.Stop()
	regServer, err := serve(filepath.Join(cfg.RegistrationDir, Name+"-reg.sock"), func(s *grpc.Server) {
		registerapi.RegisterRegistrationServer(s, &registration{endpoint: cfg.Endpoint, log: cfg.Log})
	}, cfg.Log)
	if err != nil {
		return err
	}
	defer regServer.Stop()
	cfg.Log.Info("CSI driver serving", "endpoint", cfg.Endpoint, "registration", cfg.RegistrationDir)
	<-ctx.Done()
	return nil
}

func serve(socket string, register func(*grpc.Server), log *slog.Logger) (*grpc.Server, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o750); err != nil {
		return nil, err
	}
	_ = os.Remove(socket)
	lis, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", socket, err)
	}
	s := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		volume := ""
		if r, ok := req.(interface{ GetVolumeId() string }); ok {
			volume = r.GetVolumeId()
		}
		if err != nil {
			log.Warn("CSI call failed", "method", info.FullMethod, "volume", volume, "error", err)
		} else if !strings.Contains(info.FullMethod, "Probe") && !strings.Contains(info.FullMethod, "GetCapabilities") &&
			!strings.Contains(info.FullMethod, "GetVolumeStats") {
			log.Info("CSI call", "method", info.FullMethod, "volume", volume)
		}
		return resp, err
	}))
	register(s)
	go func() { _ = s.Serve(lis) }()
	return s, nil
}

// registration answers kubelet's plugin watcher.
type registration struct {
	registerapi.UnimplementedRegistrationServer
	endpoint string
	log      *slog.Logger
}

func (r *registration) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type: registerapi.CSIPlugin, Name: Name, Endpoint: r.endpoint, SupportedVersions: []string{version},
	}, nil
}

func (r *registration) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if s.PluginRegistered {
		r.log.Info("registered with kubelet")
	} else {
		r.log.Error("kubelet refused the registration", "error", s.Error)
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

func (d *Driver) volumeFile(id string) string { return filepath.Join(d.cfg.StateDir, id+".img") }
func (d *Driver) metaFile(id string) string   { return filepath.Join(d.cfg.StateDir, id+".json") }

func (d *Driver) loadMeta(id string) (volumeMeta, error) {
	var m volumeMeta
	if strings.ContainsAny(id, "/\\") || id == "" {
		return m, fmt.Errorf("invalid volume id %q", id)
	}
	data, err := os.ReadFile(d.metaFile(id))
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(data, &m)
}

func (d *Driver) saveMeta(m volumeMeta) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(d.metaFile(m.ID), data, 0o600)
}
