package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NewNamespace creates a namespace of a generated name with labels, for one
// test: tests share the API server, never a namespace.
func (e *Env) NewNamespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-", Labels: labels}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// Apply creates every object of a YAML file (deploy/admission's, typically)
// as shipped.
func (e *Env) Apply(ctx context.Context, path string) error {
	objs, err := e.Decode(path)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		if err := e.Client.Create(ctx, obj); err != nil {
			return fmt.Errorf("apply %s: %w", path, err)
		}
	}
	return nil
}

// Decode reads the typed objects of a YAML file of one or more documents.
func (e *Env) Decode(path string) ([]client.Object, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	deserializer := serializer.NewCodecFactory(e.Scheme).UniversalDeserializer()
	var out []client.Object
	for {
		var doc runtime.RawExtension
		if err := decoder.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("decode %s: %w", path, err)
		}
		if len(bytes.TrimSpace(doc.Raw)) == 0 {
			continue
		}
		obj, _, err := deserializer.Decode(doc.Raw, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", path, err)
		}
		typed, ok := obj.(client.Object)
		if !ok {
			return nil, fmt.Errorf("decode %s: %T is not an object", path, obj)
		}
		out = append(out, typed)
	}
}
