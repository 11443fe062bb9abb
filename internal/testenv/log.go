package testenv

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	ctrl "sigs.k8s.io/controller-runtime"
)

// MainWithLogs is Main with the controllers' log (controller-runtime's, at
// verbosity 1, one timestamped line per entry) in a new temporary file named
// after pattern (as for os.CreateTemp). The file is named on stderr when the
// run fails: the logs of a passing run are noise, those of a failed one are
// what explains a timeout.
func MainWithLogs(m *testing.M, env **Env, pattern string, setup ...func() error) int {
	file, err := os.CreateTemp("", pattern)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer file.Close()
	var mu sync.Mutex
	ctrl.SetLogger(funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(file, time.Now().Format(time.RFC3339Nano), prefix, args)
	}, funcr.Options{Verbosity: 1}))
	code := Main(m, env, setup...)
	if code != 0 {
		fmt.Fprintln(os.Stderr, "controller logs:", file.Name())
	}
	return code
}
