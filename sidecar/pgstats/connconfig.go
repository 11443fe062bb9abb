package pgstats

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Settings say where PostgreSQL listens. Whom to connect as is not a
// setting: always MetricsExporterRole.
type Settings struct {
	// SocketDir is the directory holding .s.PGSQL.<port> (/controller/run).
	SocketDir string
	Port      int
	// ConnectTimeout and StatementTimeout bound every connect and query, so a
	// stuck PostgreSQL never stalls the disk probe.
	ConnectTimeout, StatementTimeout time.Duration
}

// MetricsExporterRole is CNPG's least-privileged monitoring role, the only
// role the sidecar ever connects as.
const MetricsExporterRole = "cnpg_metrics_exporter"

// Defaults used when Settings leave the timeouts zero.
const (
	DefaultConnectTimeout   = 2 * time.Second
	DefaultStatementTimeout = 2 * time.Second
)

func (s Settings) withDefaults() Settings {
	if s.ConnectTimeout <= 0 {
		s.ConnectTimeout = DefaultConnectTimeout
	}
	if s.StatementTimeout <= 0 {
		s.StatementTimeout = DefaultStatementTimeout
	}
	return s
}

// SocketPath is the unix socket PostgreSQL listens on.
func (s Settings) SocketPath() string {
	return fmt.Sprintf("%s/.s.PGSQL.%d", strings.TrimRight(s.SocketDir, "/"), s.Port)
}

// ConnConfig is the pgx configuration: unix socket, database postgres, no
// password, no TLS, no fallback host or user. Fields are set after parsing
// so that no PG* environment variable can change who the sidecar is. (One
// can still break it: pgx reads the service file PGSERVICE names while
// parsing, and a missing one is an error here.)
func ConnConfig(s Settings) (*pgx.ConnConfig, error) {
	s = s.withDefaults()
	if !strings.HasPrefix(s.SocketDir, "/") {
		return nil, fmt.Errorf("socket directory %q must be an absolute path", s.SocketDir)
	}
	cfg, err := pgx.ParseConfig("sslmode=disable connect_timeout=" + strconv.Itoa(int(s.ConnectTimeout.Round(time.Second)/time.Second)))
	if err != nil {
		return nil, fmt.Errorf("build PostgreSQL connection settings: %w", err)
	}
	cfg.Host = s.SocketDir
	cfg.Port = uint16(s.Port)
	cfg.User = MetricsExporterRole
	cfg.Password = ""
	cfg.Database = "postgres"
	cfg.TLSConfig = nil
	cfg.Fallbacks = nil
	// PGTARGETSESSIONATTRS would install a check that refuses replicas (or
	// primaries); the sidecar asks whatever this pod's instance is.
	cfg.ValidateConnect = nil
	cfg.ConnectTimeout = s.ConnectTimeout
	cfg.RuntimeParams = map[string]string{
		"application_name":  "pgstorage-sidecar",
		"statement_timeout": strconv.FormatInt(s.StatementTimeout.Milliseconds(), 10),
		// A lock wait would count against the statement timeout anyway; a
		// shorter one says more clearly what happened.
		"lock_timeout": strconv.FormatInt(s.StatementTimeout.Milliseconds()/2, 10),
	}
	return cfg, nil
}
