// Command sandbox runs a real single-node Kubernetes on this machine, built
// from source, with the real CNPG operator (DESIGN §9).
//
//	sandbox up          build what is missing and bring the cluster up
//	sandbox down        remove everything the sandbox made, also after a crash
//	sandbox status      say whether it is up and what runs on it
//	sandbox kubeconfig  print the path of the admin kubeconfig
//	sandbox kubectl     print the path of the sandbox's kubectl
//	sandbox postgres-image  print the PostgreSQL image for CNPG Clusters
//	sandbox demo        up, a CNPG cluster and a policy, filled until it grew twice
//	sandbox fill        write into a CNPG instance's volume until it is N % full
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/sandbox"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/repo"
)

const usage = `usage: sandbox <command>

commands:
  up          build what is missing (cached by version) and bring the cluster up
  down        remove every process, mount, loop device, network and directory it made
  status      say whether the sandbox is up, and what runs on it
  kubeconfig  print the admin kubeconfig's path (export KUBECONFIG=$(sandbox kubeconfig))
  kubectl     print the path of the kubectl built with the sandbox's Kubernetes
  postgres-image
              print the PostgreSQL image the sandbox provides for CNPG Clusters (imageName)
  demo        up, a 3-instance CNPG cluster and a policy, filled until its volumes grew twice
  bench       up, then time growths end to end and sample the add-on at rest (make bench-sandbox):
              bench [--growths 20] [--rate 32] [--runs nudge,no-nudge,window,rest] [--rest 10m]
              [--report bin/bench-sandbox.md]
  fill        write into a CNPG instance's volume: fill --cluster C [--namespace N] [--instance P]
              [--volume data|wal|<tablespace>] [--rate 8MiB/s] [--until 90%] [--raw]
`

func main() {
	flags := flag.NewFlagSet("sandbox", flag.ExitOnError)
	flags.Usage = func() { fmt.Fprint(os.Stderr, usage); flags.PrintDefaults() }
	repo := flags.String("repo", "", "this repository's root (default: found from the working directory)")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "csi-driver" {
		if err := runCSIDriver(ctx, os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "csi-driver:", err)
			os.Exit(1)
		}
		return
	}
	if err := flags.Parse(os.Args[1:]); err != nil || flags.NArg() < 1 {
		flags.Usage()
		os.Exit(2)
	}
	if err := runCommand(ctx, flags.Arg(0), *repo, flags.Args()[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

func runCommand(ctx context.Context, command, repo string, args []string) error {
	if repo == "" {
		var err error
		if repo, err = findRepo(); err != nil {
			return err
		}
	}
	layout := sandbox.DefaultLayout(repo)
	switch command {
	case "kubeconfig":
		fmt.Println(layout.Kubeconfig())
		return nil
	case "fill":
		return runFill(ctx, layout, args)
	}
	sb, err := sandbox.New(layout, os.Stdout)
	if err != nil {
		return err
	}
	switch command {
	case "up":
		if err := sb.Up(ctx); err != nil {
			return err
		}
		fmt.Printf("\nThe sandbox is up.\n  export KUBECONFIG=%s\n  alias kubectl=%s\nStop it with: make sandbox-down\n", layout.Kubeconfig(), sb.Kubectl())
		return nil
	case "down":
		return sb.Down(ctx)
	case "status":
		return sb.Status(ctx, os.Stdout)
	case "demo":
		return runDemo(ctx, sb, os.Stdout)
	case "bench":
		return runBench(ctx, sb, repo, os.Stdout, args)
	case "kubectl":
		fmt.Println(sb.Kubectl())
		return nil
	case "postgres-image":
		image, err := sb.PostgresImage(ctx)
		if err != nil {
			return err
		}
		fmt.Println(image)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", command, usage)
	}
}

// findRepo walks up from the working directory to this module's go.mod.
func findRepo() (string, error) {
	dir, err := repo.Root()
	if err != nil {
		return "", fmt.Errorf("%w: run inside it, or pass --repo", err)
	}
	return dir, nil
}
