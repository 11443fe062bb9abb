package pgstats

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pgstorage/cnpg-storage-autoscaler/apis/v1alpha1"
)

// Every query here works for a member of pg_monitor on PostgreSQL 15:
// pg_ls_waldir and pg_tablespace_size are granted to it (pg_monitor includes
// pg_read_all_stats), the views are readable by all.

const stateQuery = `
SELECT pg_is_in_recovery(), current_setting('archive_mode'),
       archived_count, failed_count,
       coalesce(last_archived_wal, ''), last_archived_time,
       coalesce(last_failed_wal, ''), last_failed_time
FROM pg_stat_archiver`

// Segment files have 24 hexadecimal digits; pg_wal also holds .history,
// .partial and backup files, which count towards the size but are not segments.
const walQuery = `
SELECT coalesce(sum(size), 0)::bigint,
       count(*) FILTER (WHERE name ~ '^[0-9A-F]{24}$')
FROM pg_ls_waldir()`

// Retained bytes are measured from the newest WAL this instance has: the
// insert position on a primary, the received or replayed position on a
// replica (GREATEST skips the NULL of a replica that restores from the
// archive without streaming).
const slotsQuery = `
SELECT slot_name, slot_type, active, coalesce(wal_status, ''),
       greatest(coalesce(pg_wal_lsn_diff(
           CASE WHEN pg_is_in_recovery()
                THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
                ELSE pg_current_wal_lsn() END,
           restart_lsn), 0), 0)::bigint,
       safe_wal_size
FROM pg_replication_slots
ORDER BY slot_name`

const tablespacesQuery = `
SELECT spcname, pg_tablespace_size(oid)
FROM pg_tablespace
WHERE spcname NOT IN ('pg_default', 'pg_global')
ORDER BY spcname`

func queryState(ctx context.Context, conn *pgx.Conn, pg *v1alpha1.PostgresObservation) (v1alpha1.InstanceRole, error) {
	var (
		inRecovery             bool
		archiveMode            string
		a                      v1alpha1.ArchivingObservation
		lastArchived, lastFail *time.Time
	)
	err := conn.QueryRow(ctx, stateQuery).Scan(&inRecovery, &archiveMode,
		&a.ArchivedCount, &a.FailedCount, &a.LastArchivedWAL, &lastArchived, &a.LastFailedWAL, &lastFail)
	if err != nil {
		return v1alpha1.InstanceUnknown, fmt.Errorf("read recovery state and pg_stat_archiver: %w", err)
	}
	a.Enabled = archiveMode != "off"
	a.Healthy = archivingHealthy(a.Enabled, lastArchived, lastFail)
	a.LastArchivedAt = metaTime(lastArchived)
	a.LastFailedAt = metaTime(lastFail)
	pg.Archiving = &a
	if inRecovery {
		return v1alpha1.InstanceReplica, nil
	}
	return v1alpha1.InstancePrimary, nil
}

func queryWAL(ctx context.Context, conn *pgx.Conn, pg *v1alpha1.PostgresObservation) error {
	if err := conn.QueryRow(ctx, walQuery).Scan(&pg.WALBytes, &pg.WALSegments); err != nil {
		return fmt.Errorf("read pg_ls_waldir(): %w", err)
	}
	return nil
}

func querySlots(ctx context.Context, conn *pgx.Conn, pg *v1alpha1.PostgresObservation) error {
	rows, err := conn.Query(ctx, slotsQuery)
	if err != nil {
		return fmt.Errorf("read pg_replication_slots: %w", err)
	}
	var s v1alpha1.SlotObservation
	_, err = pgx.ForEachRow(rows, []any{&s.Name, &s.Type, &s.Active, &s.WALStatus, &s.RetainedBytes, &s.SafeWALSizeBytes}, func() error {
		slot := s
		slot.CNPGManaged = strings.HasPrefix(slot.Name, v1alpha1.CNPGSlotPrefix)
		pg.Slots = append(pg.Slots, slot)
		s.SafeWALSizeBytes = nil // the next row scans into a fresh pointer
		return nil
	})
	if err != nil {
		return fmt.Errorf("read pg_replication_slots: %w", err)
	}
	return nil
}

func queryTablespaces(ctx context.Context, conn *pgx.Conn, pg *v1alpha1.PostgresObservation) error {
	rows, err := conn.Query(ctx, tablespacesQuery)
	if err != nil {
		return fmt.Errorf("read tablespace sizes: %w", err)
	}
	var ts v1alpha1.TablespaceObservation
	_, err = pgx.ForEachRow(rows, []any{&ts.Name, &ts.Bytes}, func() error {
		pg.Tablespaces = append(pg.Tablespaces, ts)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read tablespace sizes: %w", err)
	}
	return nil
}

func metaTime(t *time.Time) *metav1.Time {
	if t == nil {
		return nil
	}
	mt := metav1.NewTime(*t)
	return &mt
}
