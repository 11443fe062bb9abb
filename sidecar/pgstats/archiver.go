package pgstats

import "time"

// archivingHealthy: archiving that is off cannot fail; otherwise it is
// healthy until a failure newer than the last success. A WAL that failed
// once and then archived is healthy again, which is what the controller's
// "archiving is broken, don't grow WAL" gate needs.
func archivingHealthy(enabled bool, lastArchivedAt, lastFailedAt *time.Time) bool {
	if !enabled || lastFailedAt == nil {
		return true
	}
	return lastArchivedAt != nil && !lastArchivedAt.Before(*lastFailedAt)
}
