// Command kubectl-pgstorage is the kubectl plugin of cnpg-storage-autoscaler
// (kubectl pgstorage status|history|explain|simulate); the work is in
// internal/kubectlplugin.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/pgstorage/cnpg-storage-autoscaler/internal/kubectlplugin"
)

func main() {
	// controller-runtime warns on stderr when its logger is never set; the
	// plugin's own warnings go through the context (kubectlplugin.Run).
	ctrl.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := kubectlplugin.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, kubectlplugin.Options{})
	stop()
	os.Exit(code)
}
