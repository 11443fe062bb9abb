package report

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// observations is the sidecar's whole view of the API server: the five
// requests it makes on StorageObservations, through client-go's REST client
// with a scheme that knows pgstorage.io/v1alpha1 and metav1 alone.
//
// Not controller-runtime's client: that one links client-go's full scheme
// (55 API groups registered at start-up), several MiB of resident memory in a
// process that is injected into every PostgreSQL pod (docs/performance.md).
type observations struct {
	rest rest.Interface
}

const observationResource = "storageobservations"

func newObservations(cfg *rest.Config) (*observations, error) {
	scheme := runtime.NewScheme()
	// AddToScheme also registers metav1's options in the group and its
	// Status as unversioned, so that the API server's error responses decode
	// into typed errors (AlreadyExists, Conflict, NotFound).
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("register StorageObservation: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	gv := v1alpha1.GroupVersion
	cfg.GroupVersion = &gv
	cfg.APIPath = "/apis"
	cfg.ContentType = runtime.ContentTypeJSON
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	c, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for the API server at %s: %w", cfg.Host, err)
	}
	return &observations{rest: c}, nil
}

// Each call decodes into a fresh object: decoding into one that already
// holds labels would merge maps rather than replace them.

func (o *observations) get(ctx context.Context, key types.NamespacedName) (*v1alpha1.StorageObservation, error) {
	got := &v1alpha1.StorageObservation{}
	err := o.rest.Get().Namespace(key.Namespace).Resource(observationResource).Name(key.Name).
		Do(ctx).Into(got)
	return got, err
}

func (o *observations) create(ctx context.Context, obs *v1alpha1.StorageObservation) (*v1alpha1.StorageObservation, error) {
	got := &v1alpha1.StorageObservation{}
	err := o.rest.Post().Namespace(obs.Namespace).Resource(observationResource).
		Body(obs).Do(ctx).Into(got)
	return got, err
}

func (o *observations) updateStatus(ctx context.Context, obs *v1alpha1.StorageObservation) (*v1alpha1.StorageObservation, error) {
	got := &v1alpha1.StorageObservation{}
	err := o.rest.Put().Namespace(obs.Namespace).Resource(observationResource).Name(obs.Name).SubResource("status").
		Body(obs).Do(ctx).Into(got)
	return got, err
}

// deleteExactly deletes the object only if it still has uid, so that an
// observation made meanwhile by someone else is never removed.
func (o *observations) deleteExactly(ctx context.Context, key types.NamespacedName, uid types.UID) error {
	return o.rest.Delete().Namespace(key.Namespace).Resource(observationResource).Name(key.Name).
		Body(&metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}).
		Do(ctx).Error()
}
