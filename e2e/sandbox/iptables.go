package sandbox

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// removeKubeChains deletes every KUBE-* chain that kubelet and kube-proxy
// made, in every table, for IPv4 and IPv6: `kube-proxy --cleanup` leaves
// kubelet's canaries and firewall chains behind. The sandbox is the only
// Kubernetes on its machine (it takes the standard ports 6443 and 10250: a
// second one could not start), so every KUBE-* chain here is its own.
func removeKubeChains(ctx context.Context) error {
	for _, family := range []string{"iptables", "ip6tables"} {
		dump, err := output(ctx, family+"-save")
		if err != nil {
			continue // no such family on this machine
		}
		script := kubeChainsRemoval(dump)
		if script == "" {
			continue
		}
		cmd := exec.CommandContext(ctx, family+"-restore", "--noflush", "-w")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s-restore: %w: %s", family, err, out)
		}
	}
	return nil
}

// kubeChainsRemoval turns an iptables-save dump into a restore script that
// removes the jumps from built-in chains into KUBE-* chains, then flushes and
// deletes the KUBE-* chains.
func kubeChainsRemoval(dump string) string {
	var script strings.Builder
	var table string
	var jumps, chains []string
	flush := func() {
		if table == "" || (len(jumps) == 0 && len(chains) == 0) {
			return
		}
		script.WriteString("*" + table + "\n")
		for _, rule := range jumps {
			script.WriteString("-D " + rule + "\n")
		}
		for _, c := range chains {
			script.WriteString("-F " + c + "\n")
		}
		for _, c := range chains {
			script.WriteString("-X " + c + "\n")
		}
		script.WriteString("COMMIT\n")
	}
	for _, line := range strings.Split(dump, "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			flush()
			table, jumps, chains = strings.TrimPrefix(line, "*"), nil, nil
		case strings.HasPrefix(line, ":KUBE-"):
			chains = append(chains, strings.Fields(line[1:])[0])
		case strings.HasPrefix(line, "-A ") && !strings.HasPrefix(line, "-A KUBE-") && strings.Contains(line, "-j KUBE-"):
			jumps = append(jumps, strings.TrimPrefix(line, "-A "))
		}
	}
	flush()
	return script.String()
}
