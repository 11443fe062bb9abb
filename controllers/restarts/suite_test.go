package restarts

import (
	"os"
	"testing"

	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
)

// The reconciler runs in a manager of its own, as cmd/controller runs it, on
// a real kube-apiserver. No webhook and no CNPG operator run here: the test
// creates the instance pods itself, without the sidecar, and the Cluster
// status CNPG would write.

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithLogs(m, &env, "restarts-test-*.log", func() error {
		_, err := env.StartManager(Setup)
		return err
	}))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
