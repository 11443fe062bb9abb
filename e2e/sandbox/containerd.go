package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
	"time"
)

// Debian's containerd 1.6 and runc, in directories of the sandbox's own:
// never the machine's default containerd, runc root or CNI configuration
// (installing podman drops a conflicting bridge config into the default one).
const containerdConfig = `version = 2
root = "{{.Root}}"
state = "{{.State}}"

[grpc]
  address = "{{.Socket}}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{{.Root}}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{.PauseImage}}"
  # Without CAP_SYS_RESOURCE runc cannot lower oom_score_adj below its own.
  restrict_oom_score_adj = true
  enable_unprivileged_ports = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{{.CNIConfDir}}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "{{.RuncRoot}}"
        SystemdCgroup = false
`

func (s *Sandbox) startContainerd(ctx context.Context) error {
	l := s.layout
	for _, dir := range []string{l.containerdRoot(), l.containerdState(), l.runcRoot(), l.cniConfDir(), l.config("")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := writeTemplate(l.config("containerd.toml"), containerdConfig, map[string]string{
		"Root": l.containerdRoot(), "State": l.containerdState(), "Socket": l.containerdSocket(),
		"PauseImage": pauseImage, "CNIConfDir": l.cniConfDir(), "RuncRoot": l.runcRoot(),
	}); err != nil {
		return err
	}
	if err := writeCNIConfig(l); err != nil {
		return err
	}
	return s.start(ctx, process{
		name: "containerd",
		bin:  "/usr/bin/containerd",
		args: []string{"--config", l.config("containerd.toml")},
		ready: func(ctx context.Context) error {
			_, err := output(ctx, "ctr", "--address", l.containerdSocket(), "version")
			return err
		},
	})
}

// writeCNIConfig: one bridge for the pods, no masquerading (nothing leaves
// the machine), hairpin so a pod reaches itself through its Service.
func writeCNIConfig(l Layout) error {
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "pgstorage-sandbox",
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      bridgeLink,
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": l.cniDataDir(),
					"ranges":  [][]map[string]string{{{"subnet": podCIDR, "gateway": nodeIP.String()}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(l.cniConfDir(), "10-pgstorage-sandbox.conflist"), data, 0o644)
}

// ctr runs containerd's client against the sandbox's containerd, in the
// namespace the CRI plugin uses.
func (s *Sandbox) ctr(ctx context.Context, args ...string) (string, error) {
	return output(ctx, "ctr", append([]string{"--address", s.layout.containerdSocket(), "--namespace", "k8s.io"}, args...)...)
}

func writeTemplate(path, text string, data any) error {
	t, err := template.New(filepath.Base(path)).Option("missingkey=error").Parse(text)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := t.Execute(f, data); err != nil {
		f.Close()
		return fmt.Errorf("render %s: %w", path, err)
	}
	return f.Close()
}

// waitFor polls check every second until it succeeds or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	err := poll(ctx, time.Second, func(ctx context.Context) (bool, error) {
		last = check(ctx)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last: %v)", err, last)
	}
	return nil
}
