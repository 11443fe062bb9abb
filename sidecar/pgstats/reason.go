package pgstats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// reasonKind groups failures for backoff: a missing role will not appear
// in seconds, a restarting PostgreSQL will.
type reasonKind int

const (
	transient reasonKind = iota
	roleUnusable
)

// explain turns a connect or query error into the reason a tired on-call
// engineer reads in the observation. Reasons name no PID or time, so an
// unchanged situation gives an unchanged reason.
func explain(err error, s Settings) (string, reasonKind) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "28000" || pgErr.Code == "28P01":
			// 28000 is both "role does not exist" and "Peer authentication
			// failed" (no pg_ident mapping: CNPG before 1.29.1 / 1.28.3 has
			// neither the role nor its map).
			return fmt.Sprintf("the %s role is missing or cannot log in by peer authentication "+
				"(CNPG older than 1.29.1 / 1.28.3 has no such role); the sidecar never connects as a "+
				"superuser, so only disk figures are reported (PostgreSQL said: %s)", MetricsExporterRole, pgErr.Message), roleUnusable
		case pgErr.Code == "57P03":
			return "PostgreSQL is starting up, shutting down or in crash recovery (PostgreSQL said: " + pgErr.Message + ")", transient
		case strings.HasPrefix(pgErr.Code, "57P"):
			return "PostgreSQL is shutting down (PostgreSQL said: " + pgErr.Message + ")", transient
		case pgErr.Code == "53300":
			return "PostgreSQL has no free connection slot (too many clients)", transient
		}
		return fmt.Sprintf("PostgreSQL refused the sidecar (SQLSTATE %s: %s)", pgErr.Code, pgErr.Message), transient
	}
	switch {
	case errors.Is(err, syscall.ENOENT):
		return fmt.Sprintf("PostgreSQL is not running: no socket at %s (down, starting or crash-looping)", s.SocketPath()), transient
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("PostgreSQL is not accepting connections on %s (down or crash-looping)", s.SocketPath()), transient
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		return fmt.Sprintf("PostgreSQL did not answer within %s", s.ConnectTimeout), transient
	}
	return fmt.Sprintf("cannot talk to PostgreSQL on %s as %s: %v", s.SocketPath(), MetricsExporterRole, err), transient
}

// connectionLost says whether err leaves the connection unusable, so the
// next Collect must reconnect. A refused or timed-out statement on a live
// connection does not.
func connectionLost(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true
	}
	return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
}
