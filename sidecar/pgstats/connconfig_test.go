package pgstats

import "testing"

// pgx reads PG* environment variables while parsing; the sidecar's
// container could carry them (a pod template's env, an image default). None
// may change whom the sidecar connects as, where, or with what password.
func TestNoEnvironmentVariableChangesTheRoleOrTheSocket(t *testing.T) {
	for k, v := range map[string]string{
		"PGUSER": "postgres", "PGHOST": "10.0.0.1", "PGPORT": "6432", "PGPASSWORD": "secret",
		"PGDATABASE": "app", "PGSSLMODE": "require", "PGTARGETSESSIONATTRS": "primary",
		"PGOPTIONS": "-c statement_timeout=0", "PGAPPNAME": "other", "PGCONNECT_TIMEOUT": "600",
	} {
		t.Setenv(k, v)
	}
	cfg, err := ConnConfig(Settings{SocketDir: "/controller/run", Port: 5432})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != MetricsExporterRole || cfg.Host != "/controller/run" || cfg.Port != 5432 ||
		cfg.Password != "" || cfg.Database != "postgres" || cfg.TLSConfig != nil || len(cfg.Fallbacks) != 0 {
		t.Fatalf("connection settings user=%q host=%q port=%d password set=%t database=%q tls=%t fallbacks=%d; "+
			"want cnpg_metrics_exporter on the unix socket, no password, no TLS, no fallback",
			cfg.User, cfg.Host, cfg.Port, cfg.Password != "", cfg.Database, cfg.TLSConfig != nil, len(cfg.Fallbacks))
	}
	// target_session_attrs=primary would refuse every replica.
	if cfg.ValidateConnect != nil {
		t.Error("PGTARGETSESSIONATTRS installed a connection check: replicas would be refused")
	}
	if cfg.ConnectTimeout != DefaultConnectTimeout {
		t.Errorf("connect timeout %s, want %s", cfg.ConnectTimeout, DefaultConnectTimeout)
	}
	want := map[string]string{"application_name": "pgstorage-sidecar", "statement_timeout": "2000", "lock_timeout": "1000"}
	if len(cfg.RuntimeParams) != len(want) {
		t.Errorf("runtime parameters %v, want exactly %v", cfg.RuntimeParams, want)
	}
	for k, v := range want {
		if cfg.RuntimeParams[k] != v {
			t.Errorf("runtime parameter %s = %q, want %q", k, cfg.RuntimeParams[k], v)
		}
	}
}
