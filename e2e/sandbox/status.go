package sandbox

import (
	"context"
	"fmt"
	"io"
)

// Status prints whether the sandbox is up, its processes, and its nodes and pods.
func (s *Sandbox) Status(ctx context.Context, out io.Writer) error {
	st, err := loadState(s.layout)
	if err != nil {
		return err
	}
	if len(st.Processes) == 0 {
		fmt.Fprintln(out, "the sandbox is down")
		return nil
	}
	for _, p := range st.Processes {
		mark := "running"
		if !alive(p.PID) {
			mark = "NOT RUNNING"
		}
		fmt.Fprintf(out, "%-26s pid %-8d %s (log %s)\n", p.Name, p.PID, mark, s.layout.logFile(p.Name))
	}
	if err := s.Healthy(ctx); err != nil {
		fmt.Fprintf(out, "\nnot healthy: %v\n", err)
		return err
	}
	nodes, _ := s.kubectl(ctx, "get", "nodes", "-o", "wide")
	pods, _ := s.kubectl(ctx, "get", "pods", "-A", "-o", "wide")
	fmt.Fprintf(out, "\n%s\n%s\nexport KUBECONFIG=%s\n", nodes, pods, s.layout.Kubeconfig())
	return nil
}
