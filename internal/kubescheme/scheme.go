// Package kubescheme builds the one runtime.Scheme the controller and the
// integration tests share: Kubernetes' built-in kinds, CNPG's and this
// project's.
package kubescheme

import (
	"fmt"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// New returns a scheme with every kind the controller reads or writes.
func New() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, v1alpha1.AddToScheme, cnpgv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}
	return scheme, nil
}
