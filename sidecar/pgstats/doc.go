// Package pgstats asks PostgreSQL, over the pod's unix socket, what the
// filesystem cannot tell: whether this instance is a primary, how much WAL
// pg_wal holds, whether archiving works, what replication slots retain and
// how big each tablespace is.
//
// It connects only as the least-privileged cnpg_metrics_exporter role
// (member of pg_monitor) by peer authentication, and as nothing else: there
// is no fallback to the postgres superuser (CVE-2026-44477 was exactly
// that). When the role is missing (CNPG older than 1.29.1 / 1.28.3) or
// PostgreSQL is down, starting or crash-looping, Collect says so in a
// reason and the caller still reports its disk figures. It keeps one
// connection, bounds every connect and statement, and reconnects with
// backoff.
package pgstats
