package pgstats

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// Reconnect backoff: a restarting PostgreSQL is retried within seconds; a
// missing role only appears when CNPG is upgraded, and each attempt writes a
// FATAL line into PostgreSQL's log, so it is retried rarely.
const (
	initialReconnectDelay  = time.Second
	maxReconnectDelay      = 30 * time.Second
	maxRoleUnusableBackoff = 5 * time.Minute
)

// Result is one Collect: what PostgreSQL said (or why it could not be
// asked), the instance role, and QueryError when some query failed on a
// live connection (those sections are then missing).
type Result struct {
	Postgres   v1alpha1.PostgresObservation
	Role       v1alpha1.InstanceRole
	QueryError string
}

// Collector asks PostgreSQL on a connection of its own for each Collect and
// remembers when to try again after a failure. Not safe for concurrent use.
//
// No session is held between two Collects: CNPG stops an instance (pod
// deletion, switchover, rolling update, drain) with a smart shutdown first,
// which waits for every client session to end — for up to
// smartShutdownTimeout, 180 s by default. An idle session of the probe
// delayed every such stop by that long. A connection over the local socket
// costs about a millisecond every few seconds.
type Collector struct {
	settings Settings
	config   *pgx.ConnConfig

	retryAt    time.Time
	delay      time.Duration
	lastReason string
}

// NewCollector validates the settings; it does not connect (the sidecar
// never waits for PostgreSQL at startup).
func NewCollector(s Settings) (*Collector, error) {
	s = s.withDefaults()
	cfg, err := ConnConfig(s)
	if err != nil {
		return nil, err
	}
	return &Collector{settings: s, config: cfg}, nil
}

// Collect connects (when the backoff allows), asks PostgreSQL and
// disconnects before it returns. It never returns an error: an unreachable
// PostgreSQL is a result.
func (c *Collector) Collect(ctx context.Context, now time.Time) Result {
	if now.Before(c.retryAt) {
		return unreachable(c.lastReason)
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return c.fail(err, now)
	}
	defer disconnect(conn)
	queryCtx, cancel := context.WithTimeout(ctx, c.settings.StatementTimeout+time.Second)
	defer cancel()
	result := Result{Postgres: v1alpha1.PostgresObservation{Reachable: true}}
	role, err := queryState(queryCtx, conn, &result.Postgres)
	result.Role = role
	var queryErrors []error
	if err != nil {
		queryErrors = append(queryErrors, err)
	}
	for _, query := range []func(context.Context, *pgx.Conn, *v1alpha1.PostgresObservation) error{
		queryWAL, querySlots, queryTablespaces,
	} {
		if err != nil && connectionLost(err) {
			break
		}
		if err = query(queryCtx, conn, &result.Postgres); err != nil {
			queryErrors = append(queryErrors, err)
		}
	}
	if err := errors.Join(queryErrors...); err != nil {
		if connectionLost(err) || conn.IsClosed() {
			return c.fail(err, now)
		}
		result.QueryError = err.Error()
	}
	return result
}

func (c *Collector) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.settings.ConnectTimeout+time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, c.config)
	if err != nil {
		return nil, err
	}
	c.delay, c.retryAt, c.lastReason = 0, time.Time{}, ""
	return conn, nil
}

// fail records why PostgreSQL could not be asked and when to try again.
func (c *Collector) fail(err error, now time.Time) Result {
	reason, kind := explain(err, c.settings)
	limit := maxReconnectDelay
	if kind == roleUnusable {
		limit = maxRoleUnusableBackoff
	}
	c.delay = min(max(2*c.delay, initialReconnectDelay), limit)
	c.retryAt = now.Add(c.delay)
	c.lastReason = reason
	return unreachable(reason)
}

func unreachable(reason string) Result {
	return Result{Postgres: v1alpha1.PostgresObservation{Reachable: false, Reason: reason}, Role: v1alpha1.InstanceUnknown}
}

// disconnect sends the terminate message; a server that is going away is
// not waited for.
func disconnect(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = conn.Close(ctx)
}
