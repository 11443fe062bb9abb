package writers_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/writers"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
)

// The reconciler runs in a manager of its own, as cmd/controller runs it,
// on a real kube-apiserver with the ValidatingAdmissionPolicy that narrows
// its grant as shipped (deploy/admission/observation-ownership.yaml). No
// webhook runs here: these tests create no pod that would want the sidecar.

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithLogs(m, &env, "writers-test-*.log", func() error {
		ownership := filepath.Join(testenv.RepoRoot(), "deploy", "admission", "observation-ownership.yaml")
		if err := env.Apply(context.Background(), ownership); err != nil {
			return err
		}
		_, err := env.StartManager(writers.Setup)
		return err
	}))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
