package pgstats

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// startStandby makes a physical streaming standby of primary the way a CNPG
// replica is made: pg_basebackup, as the postgres OS user over the
// primary's unix socket, creating the physical slot slot on the primary;
// -R writes standby.signal and a primary_conninfo naming that socket and
// slot. conf lines go on top of the copied postgresql.conf. With wait, it
// returns once the standby accepts the superuser (hot standby).
func startStandby(t *testing.T, primary *testServer, slot string, wait bool, conf ...string) *testServer {
	t.Helper()
	s := &testServer{t: t, bin: primary.bin, cred: primary.cred}
	base, err := os.MkdirTemp("", "pgstats-standby-")
	must(t, err)
	s.base, s.data, s.socketDir = base, filepath.Join(base, "data"), filepath.Join(base, "run")
	s.logPath = filepath.Join(base, "postgres.log")
	t.Cleanup(func() { os.RemoveAll(base) })
	must(t, os.Chmod(base, 0o755))
	must(t, os.Mkdir(s.socketDir, 0o755))
	for _, p := range []string{base, s.socketDir} {
		must(t, os.Chown(p, int(s.cred.Uid), int(s.cred.Gid)))
	}
	s.asPostgres("pg_basebackup", "-D", s.data, "-h", primary.socketDir, "-p", "5432", "-U", "postgres",
		"-X", "stream", "-C", "-S", slot, "-R", "-c", "fast", "--no-sync")
	s.appendConf(append([]string{"unix_socket_directories = '" + s.socketDir + "'"}, conf...)...)
	if wait {
		s.start()
	} else {
		s.launch()
	}
	return s
}

// waitUntil polls a superuser query on s until it returns true; a standby
// replays on its own schedule, so this is a bounded wait for a state.
func (s *testServer) waitUntil(t *testing.T, what, query string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for s.queryInt("SELECT ("+query+")::int") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("waited 60s for %s (%s)\n%s", what, query, s.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestOnAStreamingReplicaSlotsRetainFromTheReceivedWAL(t *testing.T) {
	primary := startServer(t, serverOptions{withRole: true, replication: true})
	primary.exec("CREATE TABLE t (pad text)")
	standby := startStandby(t, primary, "_cnpg_orders_2", true)
	primary.waitUntil(t, "the standby to stream from its slot",
		"SELECT active FROM pg_replication_slots WHERE slot_name = '_cnpg_orders_2'")

	// A slot kept on the replica (CNPG synchronises its HA slots there) is
	// reserved from the standby's replay position when made.
	standby.exec("SELECT pg_create_physical_replication_slot('_cnpg_orders_3', true)")
	restartLSN := standby.queryInt("SELECT pg_wal_lsn_diff(restart_lsn, '0/0')::bigint FROM pg_replication_slots WHERE slot_name = '_cnpg_orders_3'")
	for range 3 {
		primary.exec("INSERT INTO t SELECT repeat('y', 1000) FROM generate_series(1, 5000)", "SELECT pg_switch_wal()")
	}
	primaryLSN := primary.queryInt("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
	standby.waitUntil(t, "the standby to replay the primary's WAL",
		"SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0') >= "+strconv.FormatInt(primaryLSN, 10))

	got := collect(t, newCollector(t, standby), t0)
	if !got.Postgres.Reachable || got.QueryError != "" {
		t.Fatalf("standby: reachable %t, reason %q, query error %q", got.Postgres.Reachable, got.Postgres.Reason, got.QueryError)
	}
	if got.Role != v1alpha1.InstanceReplica {
		t.Fatalf("role %s on a streaming standby, want replica", got.Role)
	}
	// The primary's slot for this standby lives on the primary only.
	if len(got.Postgres.Slots) != 1 {
		t.Fatalf("standby slots %+v, want _cnpg_orders_3 alone", got.Postgres.Slots)
	}
	slot := got.Postgres.Slots[0]
	if slot.Name != "_cnpg_orders_3" || !slot.CNPGManaged || slot.Type != "physical" || slot.Active {
		t.Errorf("standby slot observed as %+v", slot)
	}
	// Everything received since the slot was made is retained: at least up
	// to the primary's position the standby has replayed, and never more
	// than the primary has written by now.
	if slot.RetainedBytes < primaryLSN-restartLSN || slot.RetainedBytes < 2*16<<20 {
		t.Errorf("retained %d bytes; the standby replayed %d bytes since the slot was made (three segment switches: over 32 MiB)",
			slot.RetainedBytes, primaryLSN-restartLSN)
	}
	if most := primary.queryInt("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint") - restartLSN; slot.RetainedBytes > most {
		t.Errorf("retained %d bytes, more than the primary has written since the slot was made (%d)", slot.RetainedBytes, most)
	}

	// The same code on the primary: role primary, its standby's slot active.
	onPrimary := collect(t, newCollector(t, primary), t0)
	if onPrimary.Role != v1alpha1.InstancePrimary {
		t.Errorf("role %s on the primary", onPrimary.Role)
	}
	if s := slotNamed(onPrimary.Postgres.Slots, "_cnpg_orders_2"); s == nil || !s.Active {
		t.Errorf("primary's slot for the standby observed as %+v", s)
	}
}

// A standby with hot_standby = off runs but never lets anyone in: every
// connection gets SQLSTATE 57P03, the code PostgreSQL also gives while it
// starts up or replays to a consistent state. (A server that is starting up
// proper, "the database system is starting up", passes too quickly to catch
// reliably; this state holds as long as the test needs.)
func TestAStandbyThatAdmitsNoConnectionIsReportedAsStartingUp(t *testing.T) {
	primary := startServer(t, serverOptions{withRole: true, replication: true})
	standby := startStandby(t, primary, "_cnpg_orders_2", false, "hot_standby = off")
	// Streaming means the standby's postmaster is up and in recovery.
	primary.waitUntil(t, "the standby to stream from its slot",
		"SELECT active FROM pg_replication_slots WHERE slot_name = '_cnpg_orders_2'")

	_, err := standby.superuser()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57P03" {
		t.Fatalf("the superuser on a standby without hot standby got %v, want SQLSTATE 57P03", err)
	}

	c := newCollector(t, standby)
	r := collect(t, c, t0)
	if r.Postgres.Reachable || r.Role != v1alpha1.InstanceUnknown {
		t.Fatalf("observed as reachable %t, role %s", r.Postgres.Reachable, r.Role)
	}
	want := "PostgreSQL is starting up, shutting down or in crash recovery (PostgreSQL said: " + pgErr.Message + ")"
	if r.Postgres.Reason != want {
		t.Errorf("reason %q, want %q", r.Postgres.Reason, want)
	}
	// Transient: retried after the first reconnect delay, not the long one
	// kept for a missing role.
	if c.retryAt != t0.Add(initialReconnectDelay) {
		t.Errorf("next attempt at %s, want %s", c.retryAt, t0.Add(initialReconnectDelay))
	}
}
