package sandbox

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
)

// The sandbox's addresses. All of them live inside sandboxNet, on this
// machine only: the node address and the pods on one bridge of the
// sandbox's own (this kernel has no dummy interfaces), services as iptables
// rules. Nothing in this range is routed anywhere else.
const (
	nodeName        = "sandbox"
	bridgeLink      = "pgsbx-br0"
	confineChain    = "PGSBX-CONFINE"
	apiServerPort   = 6443
	sandboxNet      = "10.213.0.0/16"
	podCIDR         = "10.213.128.0/24"
	podPrefixLength = "24"
	serviceCIDR     = "10.213.64.0/24"
	clusterDomain   = "cluster.local"
)

var (
	// The node's address is the pods' gateway on the bridge: the CNI bridge
	// plugin refuses a bridge that carries any other address.
	nodeIP       = net.ParseIP("10.213.128.1")
	apiServiceIP = net.ParseIP("10.213.64.1")
	dnsServiceIP = net.ParseIP("10.213.64.10")
)

// setupNetwork gives the node its address and confines the pod network: pods
// may reach each other, services and the node, and nothing beyond.
func setupNetwork(ctx context.Context) error {
	// br_netfilter makes bridged pod traffic pass iptables (kube-proxy's
	// service rules and the confinement below); it may be built in.
	if !exists("/proc/sys/net/bridge") {
		if err := run(ctx, "modprobe", "br_netfilter"); err != nil {
			return fmt.Errorf("the kernel module br_netfilter is needed: %w", err)
		}
	}
	for key, value := range map[string]string{
		"net/ipv4/ip_forward":                 "1",
		"net/bridge/bridge-nf-call-iptables":  "1",
		"net/bridge/bridge-nf-call-ip6tables": "1",
	} {
		if err := os.WriteFile("/proc/sys/"+key, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(key, "/", "."), value, err)
		}
	}
	// The CNI bridge plugin adopts this bridge, whose address is the pods' gateway.
	if !linkExists(bridgeLink) {
		if err := run(ctx, "ip", "link", "add", bridgeLink, "type", "bridge"); err != nil {
			return err
		}
	}
	if err := run(ctx, "ip", "addr", "replace", nodeIP.String()+"/"+podPrefixLength, "dev", bridgeLink); err != nil {
		return err
	}
	if err := run(ctx, "ip", "link", "set", bridgeLink, "up"); err != nil {
		return err
	}
	return confinePods(ctx)
}

// confinePods keeps every packet of the sandbox on this machine: pods may
// reach each other, services and the node, and nothing beyond; a service
// address that kube-proxy has not (yet) translated is rejected instead of
// following the default route off the machine. (The filter table sees
// packets after kube-proxy's DNAT, so translated service traffic passes.)
func confinePods(ctx context.Context) error {
	if err := run(ctx, "iptables", "-w", "-N", confineChain); err != nil && !strings.Contains(err.Error(), "exists") {
		return err
	}
	if err := run(ctx, "iptables", "-w", "-F", confineChain); err != nil {
		return err
	}
	rules := [][]string{
		{"-s", podCIDR, "!", "-d", sandboxNet, "-m", "comment", "--comment", "pgstorage sandbox: pods stay on this machine", "-j", "DROP"},
		{"-d", serviceCIDR, "-m", "comment", "--comment", "pgstorage sandbox: untranslated service address", "-j", "REJECT"},
	}
	for _, rule := range rules {
		if err := run(ctx, "iptables", append([]string{"-w", "-A", confineChain}, rule...)...); err != nil {
			return err
		}
	}
	for _, hook := range confineHooks {
		if run(ctx, "iptables", "-w", "-C", hook, "-j", confineChain) != nil {
			if err := run(ctx, "iptables", "-w", "-I", hook, "1", "-j", confineChain); err != nil {
				return err
			}
		}
	}
	return nil
}

// confineHooks are the built-in chains that jump to the confinement chain.
var confineHooks = []string{"FORWARD", "OUTPUT"}

// teardownNetwork removes what setupNetwork, the CNI bridge plugin and
// kube-proxy added. Every step tolerates absence: it also runs after a
// half-finished `up`.
func teardownNetwork(ctx context.Context, kubeProxy string) []error {
	var errs []error
	if kubeProxy != "" && exists(kubeProxy) {
		// kube-proxy's own cleanup first (it knows its nftables/ipvs state).
		_ = run(ctx, kubeProxy, "--cleanup", "--v=0")
	}
	if err := removeKubeChains(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, hook := range confineHooks {
		for run(ctx, "iptables", "-w", "-D", hook, "-j", confineChain) == nil {
		}
	}
	_ = run(ctx, "iptables", "-w", "-F", confineChain)
	_ = run(ctx, "iptables", "-w", "-X", confineChain)
	if linkExists(bridgeLink) {
		if err := run(ctx, "ip", "link", "del", bridgeLink); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func linkExists(name string) bool { return exists("/sys/class/net/" + name) }

// run executes a command and returns its output in the error when it fails.
func run(ctx context.Context, name string, args ...string) error {
	_, err := output(ctx, name, args...)
	return err
}

func output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
