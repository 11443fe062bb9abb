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

// Collector holds the one reused connection. Not safe for concurrent use.
type Collector struct {
	settings Settings
	config   *pgx.ConnConfig

	conn       *pgx.Conn
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

// Collect asks PostgreSQL, connecting first if needed and allowed by the
// backoff. It never returns an error: an unreachable PostgreSQL is a result.
func (c *Collector) Collect(ctx context.Context, now time.Time) Result {
	if c.conn == nil {
		if now.Before(c.retryAt) {
			return unreachable(c.lastReason)
		}
		if err := c.connect(ctx); err != nil {
			return c.fail(err, now)
		}
	}
	queryCtx, cancel := context.WithTimeout(ctx, c.settings.StatementTimeout+time.Second)
	defer cancel()
	result := Result{Postgres: v1alpha1.PostgresObservation{Reachable: true}}
	role, err := queryState(queryCtx, c.conn, &result.Postgres)
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
		if err = query(queryCtx, c.conn, &result.Postgres); err != nil {
			queryErrors = append(queryErrors, err)
		}
	}
	if err := errors.Join(queryErrors...); err != nil {
		if connectionLost(err) || c.conn.IsClosed() {
			c.close()
			return c.fail(err, now)
		}
		result.QueryError = err.Error()
	}
	return result
}

func (c *Collector) connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.settings.ConnectTimeout+time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, c.config)
	if err != nil {
		return err
	}
	c.conn, c.delay, c.retryAt, c.lastReason = conn, 0, time.Time{}, ""
	return nil
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

// Close ends the connection, if any, within ctx.
func (c *Collector) Close(ctx context.Context) {
	if c.conn != nil {
		_ = c.conn.Close(ctx)
		c.conn = nil
	}
}

func (c *Collector) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c.Close(ctx)
}
