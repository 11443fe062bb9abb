package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/sandbox/csidriver"
)

// StorageClass names the sandbox offers (DESIGN §9).
const (
	ClassOnline  = "sandbox-online"  // XFS, grows online like Azure Disk managed-csi
	ClassOffline = "sandbox-offline" // ext4, grows only while unpublished
	ClassFixed   = "sandbox-fixed"   // allowVolumeExpansion: false
)

const storageManifest = `
apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata: {name: {{.Driver}}}
spec:
  attachRequired: false
  podInfoOnMount: false
  fsGroupPolicy: File
  volumeLifecycleModes: [Persistent]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: sandbox-online
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: {{.Driver}}
parameters: {csi.storage.k8s.io/fstype: xfs}
allowVolumeExpansion: true
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: sandbox-offline}
provisioner: {{.Driver}}
parameters: {csi.storage.k8s.io/fstype: ext4}
allowVolumeExpansion: true
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: sandbox-fixed}
provisioner: {{.Driver}}
parameters: {csi.storage.k8s.io/fstype: xfs}
allowVolumeExpansion: false
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
`

func (s *Sandbox) driverBin() string { return filepath.Join(s.layout.Root, "bin", "sandbox") }

func (s *Sandbox) buildDriver(ctx context.Context, out string) error {
	build := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/sandbox")
	build.Dir, build.Env = s.layout.Repo, append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if output, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the CSI driver (cmd/sandbox): %w: %s", err, output)
	}
	return nil
}

func (s *Sandbox) driverProcess() process {
	socket := s.layout.csiSocket()
	return process{
		name: "csi-driver",
		bin:  s.driverBin(),
		args: []string{"csi-driver", "--endpoint", socket,
			"--registration-dir", filepath.Join(s.layout.kubeletDir(), "plugins_registry"),
			"--state-dir", s.layout.volumesDir(), "--kubeconfig", s.layout.Kubeconfig(), "--node-id", nodeName},
		ready: func(context.Context) error {
			if !exists(socket) {
				return fmt.Errorf("no socket %s yet", socket)
			}
			return nil
		},
	}
}

// refreshDriver rebuilds the CSI driver from this tree and, when it is not
// the program that runs, restarts the storage with it: a sandbox brought up
// before a change of e2e/sandbox/csidriver would otherwise go on injecting
// the old faults. The kubernetes-csi sidecars exit when they lose the
// driver's socket, so they restart with it. Volumes are files in the
// driver's state directory and outlive it; kubelet sees it register again.
func (s *Sandbox) refreshDriver(ctx context.Context) error {
	fresh := s.driverBin() + ".new"
	if err := s.buildDriver(ctx, fresh); err != nil {
		return err
	}
	same, err := sameContent(s.driverBin(), fresh)
	if err != nil {
		return err
	}
	if err := os.Remove(fresh); err != nil {
		return err
	}
	if same {
		fmt.Fprintf(s.out, "   the CSI driver is this tree's\n")
		return nil
	}
	fmt.Fprintf(s.out, "   the CSI driver was built from an older tree: restarting it and the CSI sidecars\n")
	storage := []string{"csi-driver", "csi-provisioner", "csi-resizer"}
	kept := s.state.Processes[:0]
	for _, p := range s.state.Processes {
		if slices.Contains(storage, p.Name) {
			stopProcess(p.PID, 10*time.Second)
			continue
		}
		kept = append(kept, p)
	}
	s.state.Processes = kept
	if err := saveState(s.layout, s.state); err != nil {
		return err
	}
	return s.startStorage(ctx)
}

func sameContent(a, b string) (bool, error) {
	x, err := os.ReadFile(a)
	if err != nil {
		return false, err
	}
	y, err := os.ReadFile(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(x, y), nil
}

// startStorage runs the sandbox's CSI driver and the real kubernetes-csi
// sidecars as host processes, and creates the CSIDriver and StorageClasses.
func (s *Sandbox) startStorage(ctx context.Context) error {
	// The driver is the hidden `sandbox csi-driver` command, built from this
	// repository (Up may run inside a test binary, which has no such command).
	if err := s.buildDriver(ctx, s.driverBin()); err != nil {
		return err
	}
	if err := s.start(ctx, s.driverProcess()); err != nil {
		return err
	}
	socket := s.layout.csiSocket()
	common := []string{"--csi-address=" + socket, "--kubeconfig=" + s.layout.Kubeconfig(), "--leader-election=false", "--v=2"}
	if err := s.start(ctx, process{
		name: "csi-provisioner",
		bin:  filepath.Join(s.tools["csi-provisioner"], "csi-provisioner"),
		// --extra-create-metadata passes the PVC's name and namespace, so
		// the driver can read fault annotations from the PVC.
		args: append(common, "--extra-create-metadata", "--node-deployment=false", "--timeout=60s"),
	}); err != nil {
		return err
	}
	if err := s.start(ctx, process{
		name: "csi-resizer",
		bin:  filepath.Join(s.tools["csi-resizer"], "csi-resizer"),
		// The upstream default timeout (10s) is what a stuck resize runs into.
		args: append(common, "--timeout=10s"),
	}); err != nil {
		return err
	}
	manifest := strings.ReplaceAll(storageManifest, "{{.Driver}}", csidriver.Name)
	if err := s.applyManifest(ctx, manifest); err != nil {
		return err
	}
	// kubelet registers the driver once it sees the registration socket.
	return waitFor(ctx, 2*time.Minute, func(ctx context.Context) error {
		out, err := s.kubectl(ctx, "get", "csinode", nodeName, "-o", "jsonpath={.spec.drivers[*].name}")
		if err != nil {
			return err
		}
		if !strings.Contains(out, csidriver.Name) {
			return fmt.Errorf("kubelet has not registered %s yet (CSINode drivers: %q)", csidriver.Name, out)
		}
		return nil
	})
}
