package main

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

func TestHelpDocumentsEveryFlag(t *testing.T) {
	output, err := os.CreateTemp(t.TempDir(), "help")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := parseFlags([]string{"--help"}, output); err != flag.ErrHelp {
		t.Fatalf("--help: %v, want flag.ErrHelp", err)
	}
	help, err := os.ReadFile(output.Name())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"kubeconfig", "metrics-bind-address", "health-probe-bind-address", "leader-elect",
		"leader-election-namespace", "resize-timeout", "quota-retry-interval", "sync-period",
		"max-concurrent-reconciles", "zap-log-level",
	} {
		if !strings.Contains(string(help), "-"+name+" ") && !strings.Contains(string(help), "-"+name+"\n") {
			t.Errorf("--help does not document -%s:\n%s", name, help)
		}
	}
}

func TestFlagDefaults(t *testing.T) {
	o, _, err := parseFlags(nil, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if o.metricsAddress != ":8080" || o.probeAddress != ":8081" || !o.leaderElect || o.resizeTimeout != 10*time.Minute {
		t.Fatalf("defaults %+v", o)
	}
}
