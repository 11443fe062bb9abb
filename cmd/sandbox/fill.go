package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/sandbox"
)

// runFill is `sandbox fill`: write into a volume of a CNPG instance through
// PostgreSQL (or raw files) by exec into its postgres container — the same
// mechanism the E2E suite uses.
func runFill(ctx context.Context, layout sandbox.Layout, args []string) error {
	flags := flag.NewFlagSet("fill", flag.ContinueOnError)
	clusterName := flags.String("cluster", "", "CNPG Cluster name (required)")
	namespace := flags.String("namespace", "default", "the Cluster's namespace")
	instance := flags.String("instance", "", "instance pod (default: the primary)")
	volume := flags.String("volume", "data", "data, wal or a tablespace name")
	rate := flags.String("rate", "8MiB/s", "how fast to write")
	until := flags.String("until", "90%", "stop when the volume is this full")
	raw := flags.Bool("raw", false, "write files instead of going through PostgreSQL")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *clusterName == "" {
		return fmt.Errorf("fill needs --cluster")
	}
	rateBytes, err := parseRate(*rate)
	if err != nil {
		return err
	}
	untilPercent, err := strconv.ParseFloat(strings.TrimSuffix(*until, "%"), 64)
	if err != nil || untilPercent <= 0 || untilPercent > 100 {
		return fmt.Errorf("--until %q: want a percentage such as 90%%", *until)
	}
	kube, err := framework.Connect(layout.Kubeconfig())
	if err != nil {
		return err
	}
	pod := *instance
	if pod == "" {
		pg := &cnpgv1.Cluster{}
		pg.Name, pg.Namespace = *clusterName, *namespace
		if pod, err = kube.PrimaryPod(ctx, pg); err != nil {
			return err
		}
	}
	return kube.Fill(ctx, framework.FillSpec{
		Namespace: *namespace, Pod: pod, Volume: *volume,
		RateBytesPerSecond: rateBytes, UntilPercent: untilPercent, Raw: *raw,
	}, os.Stdout)
}

// parseRate reads "20MiB/s" (or "20Mi") as bytes per second.
func parseRate(s string) (int64, error) {
	q := strings.TrimSuffix(strings.TrimSuffix(s, "/s"), "B")
	quantity, err := resource.ParseQuantity(q)
	if err != nil || quantity.Value() <= 0 {
		return 0, fmt.Errorf("--rate %q: want a size per second such as 20MiB/s", s)
	}
	return quantity.Value(), nil
}
