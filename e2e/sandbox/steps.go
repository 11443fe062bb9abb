package sandbox

import (
	"context"
	"fmt"
	"io"
	"time"
)

// step is one bring-up action: kind's shape, a name and one function.
type step struct {
	name string
	run  func(ctx context.Context) error
}

// runSteps runs steps in order, printing one line per step with its elapsed
// time, and stops at the first failure.
func runSteps(ctx context.Context, out io.Writer, steps []step) error {
	total := time.Now()
	for _, s := range steps {
		start := time.Now()
		fmt.Fprintf(out, " • %s ...\n", s.name)
		if err := s.run(ctx); err != nil {
			fmt.Fprintf(out, " ✗ %s (%s)\n", s.name, since(start))
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(out, " ✓ %s (%s)\n", s.name, since(start))
	}
	fmt.Fprintf(out, "done in %s\n", since(total))
	return nil
}

func since(t time.Time) string {
	return time.Since(t).Round(100 * time.Millisecond).String()
}
