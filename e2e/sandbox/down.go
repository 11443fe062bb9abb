package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Down removes every process, container, mount, loop device, network
// namespace, iptables chain, interface and directory the sandbox made. It
// works from the state file and from what the machine shows (processes and
// mounts found by path), so it also cleans up after a crash.
func (s *Sandbox) Down(ctx context.Context) error {
	st, err := loadState(s.layout)
	if err != nil {
		fmt.Fprintf(s.out, "state file unreadable (%v): cleaning up from what the machine shows\n", err)
	}
	return runSteps(ctx, s.out, []step{
		{"stop kubelet", func(context.Context) error {
			for _, p := range st.Processes {
				if p.Name == "kubelet" {
					stopProcess(p.PID, 10*time.Second)
				}
			}
			return nil
		}},
		{"kill the pods' containers", s.killContainers},
		{"stop the sandbox's processes", func(context.Context) error {
			for i := len(st.Processes) - 1; i >= 0; i-- {
				stopProcess(st.Processes[i].PID, 10*time.Second)
			}
			// Whatever is left (containerd shims, a process of a crashed
			// `up` that never reached the state file) is found by path.
			for _, pid := range processesMatching([]string{s.layout.Cache}, []string{s.layout.Run, s.layout.Root}) {
				stopProcess(pid, 2*time.Second)
			}
			return nil
		}},
		{"unmount", s.unmountAll},
		{"detach loop devices", s.detachLoopDevices},
		{"remove the node network", func(ctx context.Context) error {
			return errors.Join(teardownNetwork(ctx, s.kubeBin("kube-proxy"))...)
		}},
		{"remove directories", func(context.Context) error {
			return errors.Join(os.RemoveAll(s.layout.Root), os.RemoveAll(s.layout.Run))
		}},
		{"check that nothing is left", s.leftovers},
	})
}

// killContainers kills every container runc knows in the sandbox's runc root.
func (s *Sandbox) killContainers(ctx context.Context) error {
	roots, _ := filepath.Glob(filepath.Join(s.layout.runcRoot(), "*"))
	for _, root := range roots {
		out, err := output(ctx, "runc", "--root", root, "list", "-q")
		if err != nil {
			continue
		}
		for _, id := range strings.Fields(out) {
			_ = run(ctx, "runc", "--root", root, "kill", id, "KILL")
		}
		for _, id := range strings.Fields(out) {
			_ = run(ctx, "runc", "--root", root, "delete", "--force", id)
		}
	}
	return nil
}

// sandboxMounts lists mount points under the sandbox's directories, plus the
// network namespaces that containerd's CNI made, deepest first.
func (s *Sandbox) sandboxMounts() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if under(mp, s.layout.Root) || under(mp, s.layout.Run) || strings.HasPrefix(mp, "/run/netns/cni-") || strings.HasPrefix(mp, "/var/run/netns/cni-") {
			mounts = append(mounts, mp)
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	return mounts, sc.Err()
}

func (s *Sandbox) unmountAll(ctx context.Context) error {
	mounts, err := s.sandboxMounts()
	if err != nil {
		return err
	}
	var errs []error
	for _, mp := range mounts {
		if err := run(ctx, "umount", mp); err != nil {
			// Busy: detach it now, the kernel frees it when the last user goes.
			if err := run(ctx, "umount", "-l", mp); err != nil {
				errs = append(errs, err)
			}
		}
		if strings.Contains(mp, "/netns/cni-") {
			_ = os.Remove(mp)
		}
	}
	return errors.Join(errs...)
}

func (s *Sandbox) detachLoopDevices(ctx context.Context) error {
	devices, err := loopDevicesUnder(ctx, s.layout.Root)
	if err != nil {
		return err
	}
	var errs []error
	for _, dev := range devices {
		if err := run(ctx, "losetup", "-d", dev); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// loopDevicesUnder lists loop devices whose backing file lies under dir.
func loopDevicesUnder(ctx context.Context, dir string) ([]string, error) {
	out, err := output(ctx, "losetup", "--json", "--list")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(out) == "" {
		return nil, nil
	}
	var list struct {
		Loopdevices []struct {
			Name     string `json:"name"`
			BackFile string `json:"back-file"`
		} `json:"loopdevices"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, fmt.Errorf("parse losetup output: %w", err)
	}
	var devices []string
	for _, d := range list.Loopdevices {
		if under(strings.TrimSuffix(d.BackFile, " (deleted)"), dir) {
			devices = append(devices, d.Name)
		}
	}
	return devices, nil
}

// leftovers fails when anything of the sandbox is still on the machine.
func (s *Sandbox) leftovers(ctx context.Context) error {
	var left []string
	if mounts, _ := s.sandboxMounts(); len(mounts) > 0 {
		left = append(left, fmt.Sprintf("mounts %v", mounts))
	}
	if devs, _ := loopDevicesUnder(ctx, s.layout.Root); len(devs) > 0 {
		left = append(left, fmt.Sprintf("loop devices %v", devs))
	}
	if pids := processesMatching([]string{s.layout.Cache}, []string{s.layout.Run, s.layout.Root}); len(pids) > 0 {
		left = append(left, fmt.Sprintf("processes %v", pids))
	}
	if linkExists(bridgeLink) {
		left = append(left, "interface "+bridgeLink)
	}
	if run(ctx, "iptables", "-w", "-n", "-L", confineChain) == nil {
		left = append(left, "iptables chain "+confineChain)
	}
	if out, _ := output(ctx, "iptables-save"); strings.Contains(out, ":KUBE-") {
		left = append(left, "kube-proxy iptables chains")
	}
	for _, dir := range []string{s.layout.Root, s.layout.Run} {
		if exists(dir) {
			left = append(left, "directory "+dir)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("still on the machine: %s", strings.Join(left, "; "))
	}
	return nil
}

func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// unescapeMount decodes the octal escapes of /proc/self/mountinfo (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
