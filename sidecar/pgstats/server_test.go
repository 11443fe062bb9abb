package pgstats

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	cnpgmanagement "github.com/cloudnative-pg/cloudnative-pg/pkg/management/postgres"
	cnpgpostgres "github.com/cloudnative-pg/cloudnative-pg/pkg/postgres"
)

// testServer is a real PostgreSQL 15 (Debian's postgresql-15) run as the
// OS user postgres in a temporary directory, listening only on a unix socket
// in that directory. Its pg_hba.conf and pg_ident.conf come from CNPG's own
// generators, with this process's OS user in the place of the pod's, exactly
// as CNPG maps it: to postgres (map local) and to cnpg_metrics_exporter.
type testServer struct {
	t         testing.TB
	base      string
	data      string
	socketDir string
	logPath   string
	cmd       *exec.Cmd
	cred      *syscall.Credential
	bin       string
}

type serverOptions struct {
	// withRole creates cnpg_metrics_exporter as CNPG's instance manager does.
	withRole bool
	// conf lines appended to postgresql.conf.
	conf []string
	// replication lets the postgres OS user open replication connections as
	// the postgres role over the unix socket (pg_basebackup, a standby's WAL
	// receiver), a user-defined pg_hba rule on top of CNPG's.
	replication bool
}

func postgresBinDir(t testing.TB) string {
	t.Helper()
	const debian = "/usr/lib/postgresql/15/bin"
	if _, err := os.Stat(filepath.Join(debian, "postgres")); err == nil {
		return debian
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir
		}
	}
	t.Fatalf("PostgreSQL 15 server binaries not found in %s: install the Debian package postgresql-15 (apt-get install -y postgresql-15)", debian)
	return ""
}

func postgresCredential(t testing.TB) *syscall.Credential {
	t.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("OS user postgres not found (the Debian package postgresql-15 creates it): %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

func startServer(t testing.TB, opts serverOptions) *testServer {
	t.Helper()
	s := &testServer{t: t, bin: postgresBinDir(t), cred: postgresCredential(t)}
	base, err := os.MkdirTemp("", "pgstats-")
	if err != nil {
		t.Fatal(err)
	}
	s.base, s.data, s.socketDir = base, filepath.Join(base, "data"), filepath.Join(base, "run")
	s.logPath = filepath.Join(base, "postgres.log")
	t.Cleanup(func() { os.RemoveAll(base) })
	// initdb and postgres refuse root: the directory belongs to postgres.
	must(t, os.Chmod(base, 0o755))
	must(t, os.Mkdir(s.socketDir, 0o755))
	for _, p := range []string{base, s.socketDir} {
		must(t, os.Chown(p, int(s.cred.Uid), int(s.cred.Gid)))
	}
	s.asPostgres("initdb", "-D", s.data, "-U", "postgres", "--auth=peer", "-E", "UTF8", "--locale=C", "--no-sync")

	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	var userRules []string
	if opts.replication {
		userRules = append(userRules, "local replication postgres peer")
	}
	hba, err := cnpgpostgres.CreateHBARules(userRules, cnpgpostgres.HBAOptions{DefaultAuthenticationMethod: "scram-sha-256"})
	must(t, err)
	ident, err := cnpgpostgres.CreateIdentRules(nil, me.Username)
	must(t, err)
	s.writeDataFile("pg_hba.conf", hba)
	s.writeDataFile("pg_ident.conf", ident)
	conf := append([]string{
		"listen_addresses = ''",
		fmt.Sprintf("unix_socket_directories = '%s'", s.socketDir),
		"port = 5432",
		"fsync = off",
		"log_connections = on",
		"max_wal_size = '64MB'",
		"min_wal_size = '32MB'",
	}, opts.conf...)
	s.appendConf(conf...)
	s.start()
	if opts.withRole {
		s.createMetricsExporterRole()
	}
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (s *testServer) asPostgres(program string, args ...string) {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(s.bin, program), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	cmd.Dir = s.base
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/bin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("%s %s: %v\n%s", program, strings.Join(args, " "), err, out)
	}
}

func (s *testServer) writeDataFile(name, content string) {
	s.t.Helper()
	path := filepath.Join(s.data, name)
	must(s.t, os.WriteFile(path, []byte(content), 0o600))
	must(s.t, os.Chown(path, int(s.cred.Uid), int(s.cred.Gid)))
}

func (s *testServer) appendConf(lines ...string) {
	s.t.Helper()
	f, err := os.OpenFile(filepath.Join(s.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	must(s.t, err)
	_, err = f.WriteString("\n" + strings.Join(lines, "\n") + "\n")
	must(s.t, err)
	must(s.t, f.Close())
}

// start runs postgres and waits until it accepts the superuser, the way the
// instance manager waits before it sets up roles.
func (s *testServer) start() {
	s.t.Helper()
	s.launch()
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := s.superuser()
		if err == nil {
			conn.Close(context.Background())
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("PostgreSQL did not accept connections within 60s: %v\n%s", err, s.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// launch runs postgres without waiting for it.
func (s *testServer) launch() {
	s.t.Helper()
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	must(s.t, err)
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.data)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = []string{"LC_ALL=C"}
	must(s.t, cmd.Start())
	logFile.Close()
	s.cmd = cmd
	s.t.Cleanup(s.stop)
}

// stop is a fast shutdown (SIGINT), as CNPG's instance manager does on demotion.
func (s *testServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// superuser connects as postgres through CNPG's "local" map: the test's
// own setup, never the code under test.
func (s *testServer) superuser() (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Database, cfg.Fallbacks = s.socketDir, 5432, "postgres", "postgres", nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

// exec runs SQL as the superuser.
func (s *testServer) exec(statements ...string) {
	s.t.Helper()
	conn, err := s.superuser()
	must(s.t, err)
	defer conn.Close(context.Background())
	for _, stmt := range statements {
		if _, err := conn.Exec(context.Background(), stmt); err != nil {
			s.t.Fatalf("%s: %v", stmt, err)
		}
	}
}

func (s *testServer) queryInt(query string) int64 {
	s.t.Helper()
	conn, err := s.superuser()
	must(s.t, err)
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(context.Background(), query).Scan(&n); err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// createMetricsExporterRole runs CNPG's own SetupMetricsExporterRole in a
// transaction, as the instance manager does on the primary.
func (s *testServer) createMetricsExporterRole() {
	s.t.Helper()
	cfg, err := pgx.ParseConfig("sslmode=disable")
	must(s.t, err)
	cfg.Host, cfg.Port, cfg.User, cfg.Database, cfg.Fallbacks = s.socketDir, 5432, "postgres", "postgres", nil
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{})
	must(s.t, err)
	if err := cnpgmanagement.SetupMetricsExporterRole(ctx, tx); err != nil {
		_ = tx.Rollback()
		s.t.Fatalf("CNPG's SetupMetricsExporterRole: %v", err)
	}
	must(s.t, tx.Commit())
}

func (s *testServer) settings() Settings {
	return Settings{SocketDir: s.socketDir, Port: 5432}
}

func (s *testServer) log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// logSince is what the server logged after offset (from logSize).
func (s *testServer) logSince(offset int) string {
	return s.log()[offset:]
}

func (s *testServer) logSize() int { return len(s.log()) }
