package framework

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Mount paths of CNPG instance volumes (FACTS.md).
const (
	DataMount       = "/var/lib/postgresql/data"
	WALMount        = "/var/lib/postgresql/wal"
	TablespaceMount = "/var/lib/postgresql/tablespaces/"
)

// FillSpec says how to fill one volume of one CNPG instance.
type FillSpec struct {
	Namespace string
	Pod       string // the instance pod
	// Volume is data, wal or a tablespace name.
	Volume string
	// RateBytesPerSecond is how much to write per second.
	RateBytesPerSecond int64
	// UntilPercent stops when the volume is at least this full (df, as
	// PostgreSQL sees it).
	UntilPercent float64
	// Raw writes files under the mount path instead of going through
	// PostgreSQL (for volumes PostgreSQL cannot fill on purpose).
	Raw bool
	// StopWhenGrown ends the fill as soon as the filesystem is bigger than
	// when the fill began, so that a test sees exactly one growth.
	StopWhenGrown bool
}

// Usage is a volume's fill as df sees it inside the postgres container.
type Usage struct {
	SizeBytes, AvailableBytes int64
}

// UsedPercent counts reserved blocks as used, like the add-on does.
func (u Usage) UsedPercent() float64 {
	if u.SizeBytes == 0 {
		return 0
	}
	return 100 * float64(u.SizeBytes-u.AvailableBytes) / float64(u.SizeBytes)
}

// MountPath is where an instance mounts a volume.
func MountPath(volume string) string {
	switch volume {
	case "data":
		return DataMount
	case "wal":
		return WALMount
	default:
		return TablespaceMount + volume
	}
}

// VolumeUsage runs df in the instance's postgres container.
func (c *Cluster) VolumeUsage(ctx context.Context, namespace, pod, volume string) (Usage, error) {
	out, err := c.Exec(ctx, namespace, pod, "postgres", "df", "-B1", "--output=size,avail", MountPath(volume))
	if err != nil {
		return Usage{}, err
	}
	fields := strings.Fields(out)
	if len(fields) < 4 {
		return Usage{}, fmt.Errorf("unexpected df output %q", out)
	}
	size, err1 := strconv.ParseInt(fields[len(fields)-2], 10, 64)
	avail, err2 := strconv.ParseInt(fields[len(fields)-1], 10, 64)
	if err1 != nil || err2 != nil {
		return Usage{}, fmt.Errorf("unexpected df output %q", out)
	}
	return Usage{SizeBytes: size, AvailableBytes: avail}, nil
}

// Fill writes into a volume at a steady rate until it is UntilPercent full,
// reporting each step to progress (may be nil). Data and tablespace volumes
// fill through INSERTs of incompressible rows; the WAL volume fills through
// WAL messages (pg_logical_emit_message) while a replication slot holds the
// WAL back; Raw writes files.
// A volume that grows under it keeps being filled (the target is a
// percentage, so growth moves the goal post exactly as it does for users)
// unless StopWhenGrown says otherwise.
func (c *Cluster) Fill(ctx context.Context, spec FillSpec, progress io.Writer) error {
	if spec.RateBytesPerSecond <= 0 {
		spec.RateBytesPerSecond = 20 << 20
	}
	if err := c.prepareFill(ctx, spec); err != nil {
		return err
	}
	var startBytes int64
	for step := 0; ; step++ {
		usage, err := c.VolumeUsage(ctx, spec.Namespace, spec.Pod, spec.Volume)
		if err != nil {
			return err
		}
		if progress != nil {
			fmt.Fprintf(progress, "%s %s: %.1f%% of %d MiB used\n", spec.Pod, spec.Volume, usage.UsedPercent(), usage.SizeBytes>>20)
		}
		if step == 0 {
			startBytes = usage.SizeBytes
		}
		if usage.UsedPercent() >= spec.UntilPercent || spec.StopWhenGrown && usage.SizeBytes > startBytes {
			return nil
		}
		start := time.Now()
		if _, err := c.writeChunk(ctx, spec, step); err != nil {
			return err
		}
		if err := restOfSecond(ctx, start); err != nil {
			return err
		}
	}
}

// restOfSecond waits until a second has passed since start: one chunk of
// a fill per second is its rate.
func restOfSecond(ctx context.Context, start time.Time) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Second - time.Since(start)):
		return nil
	}
}

// FillOutcome is what a timed fill wrote and which of its writes failed.
type FillOutcome struct {
	WrittenBytes int64
	Elapsed      time.Duration
	// Failures has one line per failed write: when, and the writer's words.
	Failures []string
}

// FillFor writes at spec's rate for at most d or maxBytes, whichever comes
// first, and, unlike Fill, goes on through failed writes: a run that
// measures whether writes fail (ENOSPC, PostgreSQL down) must not stop at
// the first. UntilPercent and StopWhenGrown do not apply.
func (c *Cluster) FillFor(ctx context.Context, spec FillSpec, d time.Duration, maxBytes int64) (FillOutcome, error) {
	var outcome FillOutcome
	if err := c.prepareFill(ctx, spec); err != nil {
		return outcome, err
	}
	begin := time.Now()
	for step := 0; time.Since(begin) < d && outcome.WrittenBytes < maxBytes; step++ {
		start := time.Now()
		written, err := c.writeChunk(ctx, spec, step)
		switch {
		case ctx.Err() != nil:
			return outcome, ctx.Err()
		case err != nil:
			outcome.Failures = append(outcome.Failures, fmt.Sprintf("%s: %v", time.Since(begin).Round(100*time.Millisecond), err))
		default:
			outcome.WrittenBytes += written
		}
		if err := restOfSecond(ctx, start); err != nil {
			return outcome, err
		}
	}
	outcome.Elapsed = time.Since(begin)
	return outcome, nil
}

const fillTable = "pgstorage_fill"

// rowBytes is the stored size of one fill row: 30 md5 strings, random, so
// incompressible, and under TOAST's 2 kB threshold so stored inline.
const rowBytes = 30*32 + 40

func (c *Cluster) prepareFill(ctx context.Context, spec FillSpec) error {
	if spec.Raw {
		return nil
	}
	table := fillTable
	stmts := []string{}
	switch spec.Volume {
	case "data":
		stmts = append(stmts, "create table if not exists "+table+" (id bigserial, payload text)")
	case "wal":
		// A slot that reserves WAL now and is never consumed: checkpoints
		// can no longer recycle segments, so every INSERT's WAL stays.
		stmts = append(stmts,
			"select pg_create_physical_replication_slot('pgstorage_fill_hold', true) "+
				"where not exists (select 1 from pg_replication_slots where slot_name = 'pgstorage_fill_hold')")
	default:
		table = fillTable + "_" + spec.Volume
		stmts = append(stmts, fmt.Sprintf("create table if not exists %s (id bigserial, payload text) tablespace %s", table, quoteIdent(spec.Volume)))
	}
	for _, sql := range stmts {
		if _, err := c.PSQL(ctx, spec.Namespace, spec.Pod, sql); err != nil {
			return fmt.Errorf("prepare fill of %s: %w", spec.Volume, err)
		}
	}
	return nil
}

// writeChunk writes one second's worth of spec's rate and returns how many
// bytes that was.
func (c *Cluster) writeChunk(ctx context.Context, spec FillSpec, step int) (int64, error) {
	mib := max(spec.RateBytesPerSecond>>20, 1)
	if spec.Raw {
		// A name of its own per chunk: a second fill of the same volume
		// must add files, not rewrite the first fill's.
		file := fmt.Sprintf("%s/pgstorage-fill-%d-%d", MountPath(spec.Volume), time.Now().UnixNano(), step)
		_, err := c.Exec(ctx, spec.Namespace, spec.Pod, "postgres", "dd", "if=/dev/urandom", "of="+file,
			"bs=1M", "count="+strconv.FormatInt(mib, 10), "conv=fsync", "status=none")
		return mib << 20, err
	}
	var sql string
	written := mib << 20
	switch spec.Volume {
	case "wal":
		// WAL records without table rows (1 MiB each): the data volume
		// stays as it is, so a WAL fill never fills data first. Each
		// message repeats one random string: a logical message is stored in
		// WAL as given (wal_compression compresses full-page images only),
		// and repeat() costs PostgreSQL far less CPU than 32,768 md5 calls
		// per MiB, which capped a fill at a few MiB/s on two cores. No
		// pg_switch_wal(): a switch every chunk started a new 16 MiB
		// segment each second, so any rate under 16 MiB/s filled the
		// volume at 16 (issue #21); segments now end when they are full,
		// and the volume fills at the rate asked, 16 MiB at a time.
		sql = fmt.Sprintf("select count(pg_logical_emit_message(false, 'pgstorage-fill', "+
			"repeat(md5(random()::text || g::text), 32768))) "+
			"from generate_series(1, %d) g", mib)
	default:
		table := fillTable
		if spec.Volume != "data" {
			table = fillTable + "_" + spec.Volume
		}
		rows := max(spec.RateBytesPerSecond/rowBytes, 1)
		written = rows * rowBytes
		sql = fmt.Sprintf("insert into %s (payload) select string_agg(md5(random()::text || g::text || s::text), '') "+
			"from generate_series(1, %d) g, generate_series(1, 30) s group by g", table, rows)
	}
	_, err := c.PSQL(ctx, spec.Namespace, spec.Pod, sql)
	return written, err
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
