package sandbox

import (
	"os"
	"path/filepath"
)

// Layout is where the sandbox keeps things. Root and Run hold everything a
// running sandbox creates and are removed by Down; Cache holds built programs
// and images, keyed by version, and survives Down so the next Up is warm.
type Layout struct {
	Root  string // state, certificates, etcd, kubelet, containerd, volumes, logs
	Run   string // sockets and runtime state
	Cache string // built binaries and images
	Repo  string // this repository: tools modules, manifests
}

// DefaultLayout uses fixed system paths, so that `down` finds a sandbox that
// another invocation (or a crashed one) brought up.
func DefaultLayout(repo string) Layout {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return Layout{
		Root:  "/var/lib/pgstorage-sandbox",
		Run:   "/run/pgstorage-sandbox",
		Cache: filepath.Join(cache, "cnpg-storage-autoscaler", "sandbox"),
		Repo:  repo,
	}
}

func (l Layout) pki(name string) string     { return filepath.Join(l.Root, "pki", name) }
func (l Layout) logFile(name string) string { return filepath.Join(l.Root, "logs", name+".log") }

// LogFile is the log of one of the sandbox's host processes (kubelet,
// csi-driver, kube-apiserver, ...).
func (l Layout) LogFile(name string) string { return l.logFile(name) }
func (l Layout) config(name string) string  { return filepath.Join(l.Root, "config", name) }

// Kubeconfig is the admin kubeconfig of the running sandbox.
func (l Layout) Kubeconfig() string { return filepath.Join(l.Root, "kubeconfig") }

func (l Layout) etcdDir() string         { return filepath.Join(l.Root, "etcd") }
func (l Layout) kubeletDir() string      { return filepath.Join(l.Root, "kubelet") }
func (l Layout) containerdRoot() string  { return filepath.Join(l.Root, "containerd") }
func (l Layout) containerdState() string { return filepath.Join(l.Run, "containerd") }
func (l Layout) containerdSocket() string {
	return filepath.Join(l.Run, "containerd", "containerd.sock")
}
func (l Layout) runcRoot() string            { return filepath.Join(l.Run, "runc") }
func (l Layout) cniConfDir() string          { return filepath.Join(l.Root, "cni", "net.d") }
func (l Layout) cniDataDir() string          { return filepath.Join(l.Root, "cni", "ipam") }
func (l Layout) volumesDir() string          { return filepath.Join(l.Root, "volumes") }
func (l Layout) csiSocket() string           { return filepath.Join(l.Run, "csi", "csi.sock") }
func (l Layout) binDir(set string) string    { return filepath.Join(l.Cache, "bin", set) }
func (l Layout) imageDir() string            { return filepath.Join(l.Cache, "images") }
func (l Layout) toolsModule(m string) string { return filepath.Join(l.Repo, "e2e", "tools", m) }
