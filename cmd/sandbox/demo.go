package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/framework"
	"github.com/pgstorage/cnpg-storage-autoscaler/e2e/sandbox"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/kubectlplugin"
)

const (
	demoNamespace = "demo"
	demoCluster   = "orders"
	// demoGrowths is how many growths of the data volumes the demo waits for.
	demoGrowths = 2
)

// runDemo is `sandbox demo` (make demo): bring the sandbox up with the
// add-on, create a 3-instance CNPG cluster with data and WAL volumes and a
// policy, fill the database through real INSERTs and show the volumes grow
// until they have grown twice. The cluster is left running.
func runDemo(ctx context.Context, sb *sandbox.Sandbox, out io.Writer) error {
	kube, image, err := upAndConnect(ctx, sb)
	if err != nil {
		return err
	}
	pg := framework.NewCluster(framework.ClusterSpec{
		Name: demoCluster, Namespace: demoNamespace, Instances: 3, Image: image,
		StorageClass: sandbox.ClassOnline, DataSize: "1Gi", WALSize: "1Gi",
	})
	policy := demoPolicy()
	// The Cluster first, so the policy webhook can check the policy against
	// it; CNPG creates the first instance pod only after its initdb job, by
	// which time the policy exists and the pod gets the sidecar.
	err = sandbox.RunStep(out, "create namespace "+demoNamespace+", a 3-instance CNPG cluster (1Gi data + 1Gi WAL) and its policy", func() error {
		for _, obj := range []client.Object{
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNamespace}}, pg, policy,
		} {
			if err := kube.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := sandbox.RunStep(out, "wait for the cluster to be ready", func() error {
		return kube.WaitClusterReady(ctx, pg, 6*time.Minute)
	}); err != nil {
		return err
	}
	primary, err := kube.PrimaryPod(ctx, pg)
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "\nFilling the database on %s with INSERTs at 8 MiB/s; the add-on grows the volumes as they fill.\n\n", primary)
	fillCtx, stopFill := context.WithCancel(ctx)
	defer stopFill()
	fillErr := make(chan error, 1)
	go func() {
		// A percentage the fill never reaches: it runs until the demo has
		// seen enough growth and stops it.
		fillErr <- kube.Fill(fillCtx, framework.FillSpec{
			Namespace: demoNamespace, Pod: primary, Volume: "data", RateBytesPerSecond: 8 << 20, UntilPercent: 100,
		}, nil)
	}()
	view := newLiveView(isTerminal(out),
		"Cluster "+demoNamespace+"/"+demoCluster, demoNotes(sb))
	start := time.Now()
	for {
		grown, err := showDemo(ctx, kube, view, out, start)
		if err != nil {
			return err
		}
		if grown >= demoGrowths {
			break
		}
		select {
		case err := <-fillErr:
			if err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("fill: %w", err)
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
	stopFill()
	if err := printPluginStatus(ctx, sb.Layout().Kubeconfig(), out); err != nil {
		return err
	}
	fmt.Fprintf(out, `
The data volumes grew %d times, through the real CNPG operator, kubelet and CSI resize protocol.
The cluster keeps running (kubectl is the one built with the sandbox):

  export KUBECONFIG=%s
  alias kubectl=%s
  kubectl -n %s get storageautoscalepolicy,storageobservations,pvc
  kubectl -n %s describe storageautoscalepolicy %s
  bin/sandbox fill --namespace %s --cluster %s --until 85%%     # fill some more

Stop everything with: make sandbox-down
`, demoGrowths, sb.Layout().Kubeconfig(), sb.Kubectl(), demoNamespace, demoNamespace, demoCluster, demoNamespace, demoCluster)
	return nil
}

// upAndConnect brings the sandbox up with this tree's add-on and returns a
// client of it and the PostgreSQL image its CNPG Clusters use.
func upAndConnect(ctx context.Context, sb *sandbox.Sandbox) (*framework.Cluster, string, error) {
	if err := sb.Up(ctx); err != nil {
		return nil, "", err
	}
	kube, err := framework.Connect(sb.Layout().Kubeconfig())
	if err != nil {
		return nil, "", err
	}
	image, err := sb.PostgresImage(ctx)
	return kube, image, err
}

// demoNotes are the lines the live view prints under its title: what else
// the sandbox offers to look at while the demo runs.
func demoNotes(*sandbox.Sandbox) []string {
	return []string{
		"Prometheus (scraping the controller and every probe, with the add-on's alert rules): " + sandbox.PrometheusURL(),
		"  e.g. " + sandbox.PrometheusURL() + "/api/v1/query?query=pgstorage:volume_used:ratio",
	}
}

// printPluginStatus ends the demo with what an operator would type next:
// `kubectl pgstorage status`, run in-process on the sandbox's kubeconfig.
// Exit code 3 (a volume needs attention) is an answer, not a failure.
func printPluginStatus(ctx context.Context, kubeconfig string, out io.Writer) error {
	fmt.Fprintf(out, "\nkubectl pgstorage status -n %s:\n", demoNamespace)
	code := kubectlplugin.Run(ctx, []string{"status", "-n", demoNamespace, "--kubeconfig", kubeconfig}, out, out, kubectlplugin.Options{})
	if code != kubectlplugin.ExitOK && code != kubectlplugin.ExitAttention {
		return fmt.Errorf("kubectl pgstorage status -n %s: exit code %d", demoNamespace, code)
	}
	return nil
}

// demoPolicy grows early (70 %) and lets growths follow each other after a
// minute, so the demo shows two growths in a few minutes.
func demoPolicy() *v1alpha1.StorageAutoscalePolicy {
	volume := func(limit string) *v1alpha1.VolumePolicy {
		l := resource.MustParse(limit)
		return &v1alpha1.VolumePolicy{
			Limit:    &l,
			Trigger:  v1alpha1.Trigger{UsedPercent: 70},
			Critical: v1alpha1.CriticalThreshold{UsedPercent: 90},
			Cooldown: metav1.Duration{Duration: time.Minute},
		}
	}
	p := &v1alpha1.StorageAutoscalePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: demoCluster, Namespace: demoNamespace},
		Spec: v1alpha1.StorageAutoscalePolicySpec{
			ClusterRef: v1alpha1.ClusterReference{Name: demoCluster},
			Volumes:    v1alpha1.VolumesSpec{Data: *volume("8Gi"), WAL: volume("4Gi")},
		},
	}
	p.Spec.Default()
	return p
}

// showDemo reads the PVCs and the policy, writes the live view's next
// frame, and returns how many growths of the data volumes the policy's
// history holds.
func showDemo(ctx context.Context, kube *framework.Cluster, view *liveView, out io.Writer, start time.Time) (int, error) {
	policy := &v1alpha1.StorageAutoscalePolicy{}
	if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: demoNamespace, Name: demoCluster}, policy); err != nil {
		return 0, err
	}
	pvcs := &corev1.PersistentVolumeClaimList{}
	if err := kube.Client.List(ctx, pvcs, client.InNamespace(demoNamespace)); err != nil {
		return 0, err
	}
	frame := liveFrame{
		Elapsed:     time.Since(start),
		PolicyState: policy.Status.State,
		Rows:        liveRows(pvcs.Items, policy.Status.Volumes),
		Growths:     growthLines(policy.Status.History, start),
		Width:       terminalWidth(out),
	}
	if _, err := io.WriteString(out, view.render(frame)); err != nil {
		return 0, err
	}
	return dataGrowths(policy.Status.History, start), nil
}

// isTerminal tells whether out is a terminal, where the live view redraws
// in place.
func isTerminal(out io.Writer) bool {
	file, ok := out.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// terminalWidth is out's width in columns; 0 when out is no terminal.
func terminalWidth(out io.Writer) int {
	file, ok := out.(*os.File)
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(int(file.Fd()))
	if err != nil {
		return 0
	}
	return width
}
