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
		if err := RunStep(out, s.name, func() error { return s.run(ctx) }); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "done in %s\n", since(total))
	return nil
}

// RunStep runs one step of a long command, printing its name before and its
// elapsed time after: the sandbox's bring-up and the commands built on it
// (demo, bench) show progress alike.
func RunStep(out io.Writer, name string, run func() error) error {
	start := time.Now()
	fmt.Fprintf(out, " • %s ...\n", name)
	if err := run(); err != nil {
		fmt.Fprintf(out, " ✗ %s (%s)\n", name, since(start))
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Fprintf(out, " ✓ %s (%s)\n", name, since(start))
	return nil
}

func since(t time.Time) string {
	return time.Since(t).Round(100 * time.Millisecond).String()
}
