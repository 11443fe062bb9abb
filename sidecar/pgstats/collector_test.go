package pgstats

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// These tests run Debian's PostgreSQL 15 for real (see server_test.go) and
// ask it through Collect as cnpg_metrics_exporter, the only role the sidecar
// ever uses.

var t0 = time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)

func collect(t *testing.T, c *Collector, now time.Time) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Collect(ctx, now)
}

func newCollector(t *testing.T, s *testServer) *Collector {
	t.Helper()
	c, err := NewCollector(s.settings())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func slotNamed(slots []v1alpha1.SlotObservation, name string) *v1alpha1.SlotObservation {
	for i := range slots {
		if slots[i].Name == name {
			return &slots[i]
		}
	}
	return nil
}

func TestEveryQueryWorksAsTheMonitoringRoleAndNothingMore(t *testing.T) {
	s := startServer(t, serverOptions{withRole: true, conf: []string{"max_slot_wal_keep_size = '1GB'"}})
	tablespaceDir := filepath.Join(s.base, "tbs-idx")
	must(t, os.Mkdir(tablespaceDir, 0o700))
	must(t, os.Chown(tablespaceDir, int(s.cred.Uid), int(s.cred.Gid)))
	s.exec(
		"CREATE TABLESPACE idx LOCATION '"+tablespaceDir+"'",
		"CREATE TABLE big (id int, pad text) TABLESPACE idx",
		"INSERT INTO big SELECT g, repeat('x', 500) FROM generate_series(1, 20000) g",
		"SELECT pg_create_physical_replication_slot('_cnpg_orders_2', true)",
		"SELECT pg_create_physical_replication_slot('stuck_replica', true)",
	)
	logOffset := s.logSize()

	got := collect(t, newCollector(t, s), t0)
	pg := got.Postgres
	if !pg.Reachable || got.QueryError != "" {
		t.Fatalf("reachable %t, reason %q, query error %q", pg.Reachable, pg.Reason, got.QueryError)
	}
	if got.Role != v1alpha1.InstancePrimary {
		t.Errorf("role %s, want primary", got.Role)
	}
	if pg.WALSegments < 1 || pg.WALBytes < pg.WALSegments*16<<20 {
		t.Errorf("pg_wal: %d segments, %d bytes", pg.WALSegments, pg.WALBytes)
	}
	if want := s.queryInt("SELECT count(*) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'"); pg.WALSegments != want {
		t.Errorf("WAL segments %d, the superuser counts %d", pg.WALSegments, want)
	}
	if a := pg.Archiving; a == nil || a.Enabled || !a.Healthy {
		t.Errorf("archiving %+v, want disabled and healthy", a)
	}
	if len(pg.Tablespaces) != 1 || pg.Tablespaces[0].Name != "idx" {
		t.Fatalf("tablespaces %+v, want idx alone", pg.Tablespaces)
	}
	if want := s.queryInt("SELECT pg_tablespace_size('idx')"); pg.Tablespaces[0].Bytes != want || want < 10<<20 {
		t.Errorf("tablespace idx: %d bytes, the superuser measures %d (and it holds over 10 MB of rows)", pg.Tablespaces[0].Bytes, want)
	}
	cnpg, stuck := slotNamed(pg.Slots, "_cnpg_orders_2"), slotNamed(pg.Slots, "stuck_replica")
	if cnpg == nil || stuck == nil || len(pg.Slots) != 2 {
		t.Fatalf("slots %+v", pg.Slots)
	}
	if !cnpg.CNPGManaged || stuck.CNPGManaged {
		t.Errorf("CNPG's HA slot must be marked and the other not: %+v %+v", cnpg, stuck)
	}
	if stuck.Type != "physical" || stuck.Active || stuck.WALStatus != "reserved" || stuck.SafeWALSizeBytes == nil {
		t.Errorf("inactive physical slot observed as %+v", stuck)
	}
	if !strings.Contains(s.logSince(logOffset), "connection authorized: user=cnpg_metrics_exporter database=postgres") {
		t.Errorf("the server did not see the sidecar connect as cnpg_metrics_exporter:\n%s", s.logSince(logOffset))
	}

	t.Run("a query needing more than pg_monitor is refused", func(t *testing.T) {
		cfg, err := ConnConfig(s.settings())
		must(t, err)
		conn, err := pgx.ConnectConfig(context.Background(), cfg)
		must(t, err)
		defer conn.Close(context.Background())
		for _, query := range []string{
			"SELECT pg_read_file('postgresql.conf')",
			"SELECT count(*) FROM pg_authid",
			"SELECT pg_switch_wal()",
		} {
			_, err := conn.Exec(context.Background(), query)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
				t.Errorf("%s as cnpg_metrics_exporter: got %v, want permission denied (42501)", query, err)
			}
		}
	})
}

func TestAnInactiveSlotRetainsMoreWALAfterSwitchesAndInserts(t *testing.T) {
	s := startServer(t, serverOptions{withRole: true})
	s.exec("SELECT pg_create_physical_replication_slot('stuck_replica', true)", "CREATE TABLE t (pad text)")
	c := newCollector(t, s)
	before := slotNamed(collect(t, c, t0).Postgres.Slots, "stuck_replica")
	if before == nil {
		t.Fatal("slot not observed")
	}
	for range 3 {
		s.exec("INSERT INTO t SELECT repeat('y', 1000) FROM generate_series(1, 5000)", "SELECT pg_switch_wal()")
	}
	after := slotNamed(collect(t, c, t0.Add(10*time.Second)).Postgres.Slots, "stuck_replica")
	if after == nil {
		t.Fatal("slot not observed")
	}
	// Three switches move the insert position to the start of the third
	// segment after the slot's: over two full 16 MiB segments are held back.
	if after.RetainedBytes-before.RetainedBytes < 2*16<<20 {
		t.Fatalf("retained bytes went from %d to %d; three segment switches should add at least 32 MiB", before.RetainedBytes, after.RetainedBytes)
	}
	if want := s.queryInt("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = 'stuck_replica'"); after.RetainedBytes > want {
		t.Fatalf("retained %d bytes, more than the superuser measures now (%d)", after.RetainedBytes, want)
	}
}

// waitFor collects until ok holds; PostgreSQL's archiver works on its own
// schedule, so this is a bounded wait for a state, not a timing check.
func waitFor(t *testing.T, c *Collector, what string, ok func(Result) bool) Result {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for now := t0; ; now = now.Add(time.Minute) {
		r := collect(t, c, now)
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 90s for %s; last result %+v", what, r.Postgres)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestAFailingArchiveCommandFlipsHealthy(t *testing.T) {
	s := startServer(t, serverOptions{withRole: true, conf: []string{"archive_mode = on", "archive_command = 'false'"}})
	s.exec("CREATE TABLE t (pad text)", "INSERT INTO t VALUES ('x')", "SELECT pg_switch_wal()")
	c := newCollector(t, s)
	failing := waitFor(t, c, "a failed archive attempt", func(r Result) bool {
		return r.Postgres.Archiving != nil && r.Postgres.Archiving.FailedCount > 0
	})
	a := failing.Postgres.Archiving
	if !a.Enabled || a.Healthy || a.LastFailedWAL == "" || a.LastFailedAt == nil || a.ArchivedCount != 0 {
		t.Fatalf("failing archiver observed as %+v", a)
	}

	s.exec("ALTER SYSTEM SET archive_command = 'true'", "SELECT pg_reload_conf()")
	recovered := waitFor(t, c, "a successful archive", func(r Result) bool {
		return r.Postgres.Archiving != nil && r.Postgres.Archiving.ArchivedCount > 0
	})
	if a := recovered.Postgres.Archiving; !a.Healthy || a.LastArchivedAt == nil {
		t.Fatalf("archiver after a success observed as %+v", a)
	}
}

func TestAStoppedServerIsUnreachableAndReconnectedWhenBack(t *testing.T) {
	s := startServer(t, serverOptions{withRole: true})
	c := newCollector(t, s)
	if r := collect(t, c, t0); !r.Postgres.Reachable {
		t.Fatalf("running server unreachable: %s", r.Postgres.Reason)
	}
	s.stop()

	// Connecting fails while the socket is gone.
	r := collect(t, c, t0.Add(10*time.Second))
	if r.Postgres.Reachable || r.Postgres.Reason == "" || r.Role != v1alpha1.InstanceUnknown {
		t.Fatalf("stopped server observed as %+v role %s", r.Postgres, r.Role)
	}
	// Still no socket a minute later.
	r = collect(t, c, t0.Add(time.Minute))
	if r.Postgres.Reachable || !strings.Contains(r.Postgres.Reason, "PostgreSQL is not running: no socket at "+s.socketDir) {
		t.Fatalf("reason %q does not say PostgreSQL is not running", r.Postgres.Reason)
	}

	s.start()
	// Within the backoff nothing is attempted, so it still reads as down.
	if r := collect(t, c, t0.Add(time.Minute+500*time.Millisecond)); r.Postgres.Reachable {
		t.Fatal("reconnected inside the backoff")
	}
	if r := collect(t, c, t0.Add(2*time.Minute)); !r.Postgres.Reachable {
		t.Fatalf("not reconnected once the server was back: %s", r.Postgres.Reason)
	}
}

func TestAMissingRoleIsReportedAndNoSuperuserIsTried(t *testing.T) {
	s := startServer(t, serverOptions{withRole: false})
	logOffset := s.logSize()
	c := newCollector(t, s)
	r := collect(t, c, t0)
	if r.Postgres.Reachable {
		t.Fatal("reachable without the role")
	}
	for _, want := range []string{"cnpg_metrics_exporter role is missing", "1.29.1 / 1.28.3", "never connects as a superuser", "only disk figures"} {
		if !strings.Contains(r.Postgres.Reason, want) {
			t.Errorf("reason %q does not say %q", r.Postgres.Reason, want)
		}
	}
	// Inside the backoff: no second attempt.
	collect(t, c, t0.Add(500*time.Millisecond))

	log := s.logSince(logOffset)
	if n := strings.Count(log, `role "cnpg_metrics_exporter" does not exist`); n != 1 {
		t.Errorf("the server saw %d attempts as cnpg_metrics_exporter, want 1:\n%s", n, log)
	}
	// CNPG's map would let this process in as postgres: proving it never tried.
	if strings.Contains(log, "user=postgres") || strings.Contains(log, `user "postgres"`) {
		t.Errorf("the sidecar connected as the postgres superuser:\n%s", log)
	}
}

// CNPG stops an instance with a smart shutdown first, which waits for every
// client session: a session the probe kept between two collects held every
// pod deletion, switchover and drain for smartShutdownTimeout (180 s).
func TestNoSessionOutlivesACollectSoSmartShutdownIsNotHeld(t *testing.T) {
	s := startServer(t, serverOptions{withRole: true})
	c := newCollector(t, s)
	if r := collect(t, c, t0); !r.Postgres.Reachable {
		t.Fatalf("running server unreachable: %s", r.Postgres.Reason)
	}

	must(t, s.cmd.Process.Signal(syscall.SIGTERM)) // smart shutdown
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	select {
	case <-exited:
		s.cmd = nil
	case <-time.After(20 * time.Second):
		t.Fatalf("smart shutdown still waiting 20 s after a collect: a session of the probe is open\n%s", s.log())
	}
}
