package runner

import (
	"syscall"
	"testing"
	"time"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/config"
	"github.com/pgstorage/cnpg-storage-autoscaler/sidecar/decide"
)

// BenchmarkProbeCycle is the sidecar's per-cycle work without PostgreSQL and
// the API server: statfs of three volumes (data, WAL, one tablespace), the
// fill-rate update and the write and interval decisions. pgstats has its own
// benchmark against a real server.
func BenchmarkProbeCycle(b *testing.B) {
	volumes := NewVolumes([]config.Volume{
		{Name: "pgdata", Role: v1alpha1.RoleData, PVC: "orders-1", MountPath: b.TempDir()},
		{Name: "pg-wal", Role: v1alpha1.RoleWAL, PVC: "orders-1-wal", MountPath: "/"},
		{Name: "idx", Role: v1alpha1.RoleTablespace, Tablespace: "idx", PVC: "orders-1-tbs-idx", MountPath: "/proc"},
	}, 2*time.Second)
	start := time.Now()
	// A full window of samples makes the fill-rate regression as costly as it gets.
	var buffer []v1alpha1.ObservedVolume
	for i := range 300 {
		buffer, _ = volumes.Measure(start.Add(time.Duration(i)*2*time.Second), buffer)
	}
	last := &decide.Written{Status: v1alpha1.StorageObservationStatus{Volumes: append([]v1alpha1.ObservedVolume(nil), buffer...)}, At: start}
	now := start.Add(600 * time.Second)
	b.ReportAllocs()
	cpuBefore := processCPU(b)
	b.ResetTimer()
	for b.Loop() {
		// The disk interval: one cycle in twenty adds to the rings.
		now = now.Add(100 * time.Millisecond)
		var err error
		buffer, err = volumes.Measure(now, buffer)
		if err != nil {
			b.Fatal(err)
		}
		status := v1alpha1.StorageObservationStatus{Volumes: buffer}
		decide.ShouldWrite(last, &status, now, decide.Cadence{Heartbeat: time.Minute, Moves: 2 * time.Second})
		decide.ProbeInterval(status.Volumes, 10*time.Second, 2*time.Second)
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
