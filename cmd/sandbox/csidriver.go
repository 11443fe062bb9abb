package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/sandbox/csidriver"
)

// runCSIDriver is the hidden `sandbox csi-driver` command: the sandbox starts
// it as a host process next to kubelet.
func runCSIDriver(ctx context.Context, args []string) error {
	flags := flag.NewFlagSet("csi-driver", flag.ContinueOnError)
	endpoint := flags.String("endpoint", "", "unix socket for the CSI services")
	registration := flags.String("registration-dir", "", "kubelet's plugins_registry directory")
	stateDir := flags.String("state-dir", "", "directory for volume files")
	kubeconfig := flags.String("kubeconfig", "", "kubeconfig, to read fault annotations from PVCs")
	nodeID := flags.String("node-id", "", "this node's name")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *endpoint == "" || *registration == "" || *stateDir == "" || *nodeID == "" {
		return fmt.Errorf("csi-driver needs --endpoint, --registration-dir, --state-dir and --node-id")
	}
	cfg := csidriver.Config{
		Endpoint: *endpoint, RegistrationDir: *registration, StateDir: *stateDir, NodeID: *nodeID,
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	if *kubeconfig != "" {
		rc, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
		if err != nil {
			return err
		}
		if cfg.Kube, err = kubernetes.NewForConfig(rc); err != nil {
			return err
		}
	}
	return csidriver.Run(ctx, cfg)
}
