package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// Sandbox is one single-node cluster on this machine.
type Sandbox struct {
	layout Layout
	out    io.Writer
	state  state
	tools  map[string]string // tools module → directory of its built programs

	cnpgImage         string
	corednsImage      string
	postgresImageName string
}

// New prepares a Sandbox; nothing is started until Up.
func New(layout Layout, out io.Writer) (*Sandbox, error) {
	s := &Sandbox{layout: layout, out: out, tools: map[string]string{}}
	for _, set := range toolSets {
		dir, err := layout.toolsDir(set.module)
		if err != nil {
			return nil, err
		}
		s.tools[set.module] = dir
	}
	return s, nil
}

// Kubectl is the path of the kubectl built with the sandbox's Kubernetes.
func (s *Sandbox) Kubectl() string { return s.kubeBin("kubectl") }

// Layout is where this sandbox keeps things.
func (s *Sandbox) Layout() Layout { return s.layout }

// PostgresImage is the PostgreSQL image for CNPG Clusters (imageName).
func (s *Sandbox) PostgresImage(ctx context.Context) (string, error) {
	if s.postgresImageName == "" {
		v, err := postgresVersion(ctx)
		if err != nil {
			return "", err
		}
		s.postgresImageName = imageRepo + "postgresql:" + v
	}
	return s.postgresImageName, nil
}

// Up builds what is missing and brings the cluster up. It is idempotent: a
// healthy sandbox is left as it is; a broken or half-made one is removed first.
func (s *Sandbox) Up(ctx context.Context) error {
	if err := checkPrerequisites(); err != nil {
		return err
	}
	if s.Healthy(ctx) == nil {
		// Up again on a running sandbox brings the add-on up to date with
		// this tree (a new image tag for every change).
		fmt.Fprintf(s.out, "sandbox is already up\n")
		steps := []step{
			{"bring the sandbox's CSI driver up to date with this tree", s.refreshDriver},
			{"install the add-on from this tree with its Helm chart", s.installAddon},
		}
		if !s.state.has("prometheus") {
			// A sandbox brought up before it had a Prometheus.
			steps = append(steps, step{buildToolsStep, s.buildTools}, step{prometheusStep, s.startPrometheus})
		}
		return runSteps(ctx, s.out, steps)
	}
	if st, _ := loadState(s.layout); len(st.Processes) > 0 || exists(s.layout.Root) {
		fmt.Fprintf(s.out, "removing the remains of an earlier sandbox first\n")
		if err := s.Down(ctx); err != nil {
			return err
		}
	}
	for _, dir := range []string{s.layout.Root, s.layout.Run} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	s.state = state{}
	if err := saveState(s.layout, s.state); err != nil {
		return err
	}
	return runSteps(ctx, s.out, []step{
		{buildToolsStep + ", and the PostgreSQL image beside them", s.buildToolsBesideThePostgresImage},
		{"write certificates and kubeconfigs", func(context.Context) error {
			if err := writePKI(s.layout); err != nil {
				return err
			}
			return writeKubeconfigs(s.layout)
		}},
		{"set up the node network (confined to this machine)", setupNetwork},
		{"start containerd", s.startContainerd},
		{"build and import images (pause, CNPG, CoreDNS, PostgreSQL)", s.ensureImages},
		{"start etcd", s.startEtcd},
		{"start kube-apiserver", s.startAPIServer},
		{"start kube-controller-manager", s.startControllerManager},
		{"start kube-scheduler", s.startScheduler},
		{"start kubelet", s.startKubelet},
		{"start kube-proxy", s.startKubeProxy},
		{"wait for the node to be Ready", s.waitNodeReady},
		{"start the CSI driver, external-provisioner and external-resizer", s.startStorage},
		{"deploy CoreDNS", s.deployCoreDNS},
		{"install the CNPG operator from its release manifest", s.installCNPG},
		{"install the add-on from this tree with its Helm chart", s.installAddon},
		{prometheusStep, s.startPrometheus},
	})
}

// Healthy reports whether a sandbox is up: its processes alive and the API
// server ready.
func (s *Sandbox) Healthy(ctx context.Context) error {
	st, err := loadState(s.layout)
	if err != nil {
		return err
	}
	if len(st.Processes) == 0 {
		return errors.New("no sandbox is running")
	}
	for _, p := range st.Processes {
		if !alive(p.PID) {
			return fmt.Errorf("%s (pid %d) is not running", p.Name, p.PID)
		}
	}
	s.state = st
	client, err := s.adminHTTPClient()
	if err != nil {
		return err
	}
	return httpOK(client, fmt.Sprintf("https://%s:%d/readyz", nodeIP, apiServerPort))(ctx)
}

// checkPrerequisites names what is missing: root, a Debian package, a
// kernel feature.
func checkPrerequisites() error {
	if os.Geteuid() != 0 {
		return errors.New("the sandbox needs root (it runs containerd, kubelet and loop devices)")
	}
	var missing []string
	for cmd, pkg := range map[string]string{
		"containerd": "containerd", "ctr": "containerd", "runc": "runc",
		"iptables": "iptables", "ip": "iproute2", "modprobe": "kmod",
		"mkfs.xfs": "xfsprogs", "xfs_growfs": "xfsprogs", "mkfs.ext4": "e2fsprogs", "resize2fs": "e2fsprogs",
		"losetup": "util-linux", "debootstrap": "debootstrap", "gcc": "gcc", "apt-cache": "apt",
		"podman": "podman",
	} {
		if _, err := exec.LookPath(cmd); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", cmd, pkg))
		}
	}
	if !exists("/usr/lib/cni/bridge") {
		missing = append(missing, "/usr/lib/cni/bridge (Debian package containernetworking-plugins)")
	}
	if !exists("/usr/lib/x86_64-linux-gnu/libc.a") && !exists("/usr/lib/aarch64-linux-gnu/libc.a") {
		missing = append(missing, "a static libc (Debian package libc6-dev)")
	}
	if !exists("/dev/loop-control") {
		missing = append(missing, "loop devices (/dev/loop-control; kernel module loop)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("the sandbox needs: %v; `hack/install-deps.sh sandbox` installs the packages", missing)
	}
	return nil
}
