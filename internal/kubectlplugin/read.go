package kubectlplugin

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/controllers/policy"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/kubescheme"
)

// session is one run's view of the API server: a reader (the plugin never
// writes) and the namespace the kubeconfig or -n names.
type session struct {
	reader    client.Reader
	namespace string
}

// connect loads the kubeconfig as kubectl does (--kubeconfig, KUBECONFIG,
// ~/.kube/config, in-cluster; --context, -n and the other kubectl flags).
func (g *globals) connect() (*session, error) {
	restConfig, err := g.config.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	namespace, _, err := g.config.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("namespace from kubeconfig: %w", err)
	}
	scheme, err := kubescheme.New()
	if err != nil {
		return nil, err
	}
	reader, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", restConfig.Host, err)
	}
	return &session{reader: reader, namespace: namespace}, nil
}

// policies lists the policies to show, by namespace, cluster and age: those
// of cluster (every cluster when ""), in the session's namespace or in all.
func (s *session) policies(ctx context.Context, cluster string, allNamespaces bool) ([]v1alpha1.StorageAutoscalePolicy, error) {
	var options []client.ListOption
	where := whereOf(s.namespace, allNamespaces)
	if !allNamespaces {
		options = append(options, client.InNamespace(s.namespace))
	}
	var list v1alpha1.StorageAutoscalePolicyList
	if err := s.reader.List(ctx, &list, options...); err != nil {
		return nil, fmt.Errorf("list StorageAutoscalePolicies in %s: %w", where, err)
	}
	policies := slices.DeleteFunc(list.Items, func(p v1alpha1.StorageAutoscalePolicy) bool {
		return cluster != "" && p.Spec.ClusterRef.Name != cluster
	})
	slices.SortFunc(policies, func(a, b v1alpha1.StorageAutoscalePolicy) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Spec.ClusterRef.Name, b.Spec.ClusterRef.Name),
			a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Name, b.Name))
	})
	if cluster != "" && len(policies) == 0 {
		return nil, fmt.Errorf("no StorageAutoscalePolicy manages cluster %s in %s (kubectl get storageautoscalepolicies -A lists them)", cluster, where)
	}
	return policies, nil
}

// view reads the world of the policy that manages cluster, as the
// controller reads it at now. Of two policies of one cluster the
// controller's rule picks the one that acts (the other's View names it in
// ConflictWith).
func (s *session) view(ctx context.Context, cluster string, now time.Time, resizeTimeout time.Duration) (*policy.View, error) {
	policies, err := s.policies(ctx, cluster, false)
	if err != nil {
		return nil, err
	}
	var first *policy.View
	for index := range policies {
		view, err := policy.Snapshot(ctx, s.reader, &policies[index], now, policy.SnapshotOptions{ResizeTimeout: resizeTimeout})
		if err != nil {
			return nil, err
		}
		if view.ConflictWith == "" {
			return view, nil
		}
		if first == nil {
			first = view
		}
	}
	return first, nil
}

// whereOf names where policies are looked for, for messages.
func whereOf(namespace string, allNamespaces bool) string {
	if allNamespaces {
		return "any namespace"
	}
	return "namespace " + namespace
}

func (g *globals) where(s *session) string { return whereOf(s.namespace, g.allNamespaces) }

// listed prints what status and history found, n policies' worth: as
// -o asks, else the table, and says so when there was none; errAttention
// when something needs a human.
func (g *globals) listed(s *session, out any, n int, table func() error, attention bool) error {
	var err error
	switch {
	case g.output != "":
		err = printStructured(g.stdout, g.output, out)
	case n == 0:
		// As kubectl get says it: on stderr, so that a table stays a table.
		fmt.Fprintln(g.stderr, "No StorageAutoscalePolicy found in "+g.where(s)+".")
	default:
		err = table()
	}
	if err == nil && attention {
		return errAttention
	}
	return err
}
