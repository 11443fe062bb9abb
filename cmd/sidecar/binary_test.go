package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
	"github.com/pgstorage/cnpg-storage-autoscaler/internal/testenv"
)

// runningSidecar is the built binary running against a real API server,
// measuring a tmpfs of known size, with no PostgreSQL behind its socket
// directory (a pod whose PostgreSQL is down).
type runningSidecar struct {
	cmd         *exec.Cmd
	env         *testenv.Env
	namespace   string
	metricsAddr string
	exited      chan error
	// data is the tmpfs the sidecar measures as the data volume.
	data string
}

// startSidecar runs the sidecar with args (default: every interval 1s,
// heartbeat 5s).
func startSidecar(tb testing.TB, args ...string) *runningSidecar {
	tb.Helper()
	env, err := testenv.Start()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = env.Stop() })
	dir := tb.TempDir()
	binary := filepath.Join(dir, "sidecar")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("build the sidecar: %v\n%s", err, out)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	writeKubeconfig(tb, env, kubeconfig)

	data := filepath.Join(dir, "pgdata")
	if err := os.Mkdir(data, 0o755); err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", data).CombinedOutput(); err != nil {
		tb.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	tb.Cleanup(func() { _ = exec.Command("umount", data).Run() })

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sidecar-"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		tb.Fatal(err)
	}
	s := &runningSidecar{env: env, namespace: ns.Name, metricsAddr: freeAddr(tb), exited: make(chan error, 1), data: data}
	if len(args) == 0 {
		args = []string{"--interval", "1s", "--fast-interval", "1s", "--heartbeat", "5s"}
	}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Env = []string{
		"KUBECONFIG=" + kubeconfig,
		"POD_NAME=orders-1", "POD_NAMESPACE=" + ns.Name, "POD_UID=3f1c0d7e-uid", "CLUSTER_NAME=orders",
		"PGSTORAGE_VOLUMES=name=pgdata,role=data,pvc=orders-1,path=" + data,
		"PGSTORAGE_SOCKET_DIR=" + filepath.Join(dir, "run"),
		"PGSTORAGE_METRICS_ADDR=" + s.metricsAddr,
	}
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	tb.Cleanup(func() {
		_ = s.cmd.Process.Kill()
	})
	return s
}

func writeKubeconfig(tb testing.TB, env *testenv.Env, path string) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}
	cfg.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: env.Config.CertData, ClientKeyData: env.Config.KeyData, Token: env.Config.BearerToken}
	cfg.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	cfg.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		tb.Fatal(err)
	}
}

func freeAddr(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// observation waits (bounded) for the sidecar's first write.
func (s *runningSidecar) observation(tb testing.TB) *v1alpha1.StorageObservation {
	tb.Helper()
	obs := &v1alpha1.StorageObservation{}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := s.env.Client.Get(context.Background(), client.ObjectKey{Namespace: s.namespace, Name: "orders-1"}, obs)
		if err == nil && obs.Status.ObservedAt != nil {
			return obs
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no observation written within 60s (last error %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *runningSidecar) get(tb testing.TB, path string) (int, string) {
	tb.Helper()
	resp, err := http.Get("http://" + s.metricsAddr + path)
	if err != nil {
		tb.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestTheBinaryReportsDiskFiguresWhilePostgresIsDownAndStopsOnSIGTERM(t *testing.T) {
	s := startSidecar(t)
	obs := s.observation(t)
	if obs.Spec.PodUID != "3f1c0d7e-uid" || len(obs.OwnerReferences) != 1 || obs.OwnerReferences[0].Kind != "Pod" {
		t.Errorf("identity %+v owners %+v", obs.Spec, obs.OwnerReferences)
	}
	if len(obs.Status.Volumes) != 1 || obs.Status.Volumes[0].CapacityBytes != 64<<20 {
		t.Errorf("volumes %+v, want the 64 MiB tmpfs", obs.Status.Volumes)
	}
	if obs.Status.Postgres.Reachable || !strings.Contains(obs.Status.Postgres.Reason, "PostgreSQL is not running") {
		t.Errorf("postgres %+v, want unreachable because it is not running", obs.Status.Postgres)
	}

	code, body := s.get(t, "/metrics")
	for _, want := range []string{
		`pgstorage_sidecar_volume_capacity_bytes{pvc="orders-1",role="data",volume="pgdata"} 6.7108864e+07`,
		`pgstorage_sidecar_postgres_reachable 0`,
		`pgstorage_sidecar_observation_writes_total{outcome="written"}`,
		`pgstorage_sidecar_probe_duration_seconds_count`,
	} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %s", code, want)
		}
	}
	if code, body := s.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}

	sent := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
		// The 1 s requirement is measured in docs/performance.md; this
		// test only proves a clean exit.
		t.Logf("exited %s after SIGTERM", time.Since(sent))
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30s after SIGTERM")
	}
}

// TestAFillOnACalmVolumeIsSeenWithinTheDiskInterval: the disks are
// measured every disk interval even while every volume is calm, so a fill
// that starts then is reported at once, not at the next probe of
// PostgreSQL (issue #21: at 10 MiB/s from 77 % a 1Gi volume was 85.6 %
// full before a 10 s probe saw it past 80 %). Here PostgreSQL's intervals
// are 60 s and 30 s, and the write must be reported well before either.
func TestAFillOnACalmVolumeIsSeenWithinTheDiskInterval(t *testing.T) {
	s := startSidecar(t, "--interval", "60s", "--fast-interval", "30s", "--disk-interval", "250ms", "--heartbeat", "120s")
	before := s.observation(t).Status.Volumes[0].UsedBytes
	if err := os.WriteFile(filepath.Join(s.data, "fill"), make([]byte, 24<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		obs := &v1alpha1.StorageObservation{}
		err := s.env.Client.Get(context.Background(), client.ObjectKey{Namespace: s.namespace, Name: "orders-1"}, obs)
		if err == nil && len(obs.Status.Volumes) == 1 && obs.Status.Volumes[0].UsedBytes >= before+24<<20 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("24 MiB written into a 64 MiB volume not reported within 20s (intervals 60s and 30s, disks every 250ms); last error %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// BenchmarkSteadyRSS runs the binary for 30 s (30 probe cycles, several
// heartbeats) and reports its resident memory then.
func BenchmarkSteadyRSS(b *testing.B) {
	s := startSidecar(b)
	s.observation(b)
	time.Sleep(30 * time.Second)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(kib)/1024, "RSS-MiB")
		}
	}
	sent := time.Now()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.exited
	b.ReportMetric(float64(time.Since(sent).Milliseconds()), "SIGTERM-exit-ms")
}

// BenchmarkCPUAtRest runs the binary at the default intervals for 30 s,
// nothing moving on its volume and PostgreSQL down, and reports the CPU it
// used (user + system, from /proc) in millicores, per disk interval: the
// cost of measuring the disks ten times a second (issue #21).
func BenchmarkCPUAtRest(b *testing.B) {
	for _, every := range []string{"100ms", "2s"} {
		b.Run("disk-interval="+every, func(b *testing.B) {
			s := startSidecar(b, "--interval", "10s", "--fast-interval", "2s", "--heartbeat", "60s", "--disk-interval", every)
			s.observation(b)
			time.Sleep(5 * time.Second)
			before := processTicks(b, s.cmd.Process.Pid)
			const span = 30 * time.Second
			time.Sleep(span)
			used := processTicks(b, s.cmd.Process.Pid) - before
			// Linux counts CPU time in clock ticks of 1/100 s (USER_HZ).
			b.ReportMetric(float64(used)*10/span.Seconds(), "millicores")
		})
	}
}

// processTicks is a process's user + system CPU time in clock ticks.
func processTicks(b *testing.B, pid int) int64 {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name (field 2) may hold spaces; the fields after its ')'
	// start with field 3, so utime (14) and stime (15) are the 12th and 13th.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("parse %s: %v %v", stat, err1, err2)
	}
	return utime + stime
}
