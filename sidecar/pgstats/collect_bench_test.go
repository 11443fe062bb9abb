package pgstats

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkCollect is one round of the PostgreSQL queries, connection over
// the local socket included, against a real server with two slots and a
// tablespace.
func BenchmarkCollect(b *testing.B) {
	s := startServer(b, serverOptions{withRole: true})
	tablespaceDir := filepath.Join(s.base, "tbs-idx")
	must(b, os.Mkdir(tablespaceDir, 0o700))
	must(b, os.Chown(tablespaceDir, int(s.cred.Uid), int(s.cred.Gid)))
	s.exec(
		"CREATE TABLESPACE idx LOCATION '"+tablespaceDir+"'",
		"SELECT pg_create_physical_replication_slot('_cnpg_orders_2', true)",
		"SELECT pg_create_physical_replication_slot('stuck_replica', true)",
	)
	c, err := NewCollector(s.settings())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if r := c.Collect(ctx, t0); !r.Postgres.Reachable || r.QueryError != "" {
		b.Fatalf("server not usable: %q %q", r.Postgres.Reason, r.QueryError)
	}
	b.ReportAllocs()
	cpuBefore := processCPU(b)
	b.ResetTimer()
	for b.Loop() {
		if r := c.Collect(ctx, t0); !r.Postgres.Reachable {
			b.Fatal(r.Postgres.Reason)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU(b)-cpuBefore)/float64(b.N), "cpu-ns/op")
}

// processCPU is this process's user+system CPU time in nanoseconds: wall
// time would also count waiting for PostgreSQL, which costs the pod nothing.
func processCPU(b *testing.B) int64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		b.Fatal(err)
	}
	return usage.Utime.Nano() + usage.Stime.Nano()
}
