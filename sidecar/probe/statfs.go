// Package probe measures a mounted filesystem with statfs(2).
//
// It reports what PostgreSQL, a non-root writer, can still use: blocks that
// only root may use (ext4's reserved blocks) count as used, because a
// PostgreSQL that cannot write them is as stuck as one facing a full disk.
// It knows nothing of PostgreSQL, Kubernetes or policies.
package probe

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Figures are one filesystem's size and use, in bytes and inodes.
type Figures struct {
	CapacityBytes  int64
	UsedBytes      int64
	AvailableBytes int64
	InodesTotal    int64
	InodesFree     int64
}

// Statfs measures the filesystem mounted at path.
func Statfs(path string) (Figures, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Figures{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	return FromStatfs(&st), nil
}

// FromStatfs turns raw statfs fields into Figures. Sizes are in units of
// f_frsize (the fragment size the block counts are expressed in), falling back
// to f_bsize where a filesystem leaves f_frsize zero.
func FromStatfs(st *unix.Statfs_t) Figures {
	unit := int64(st.Frsize)
	if unit <= 0 {
		unit = int64(st.Bsize)
	}
	capacity := int64(st.Blocks) * unit
	available := int64(st.Bavail) * unit
	return Figures{
		CapacityBytes:  capacity,
		UsedBytes:      capacity - available,
		AvailableBytes: available,
		InodesTotal:    int64(st.Files),
		InodesFree:     int64(st.Ffree),
	}
}

// UsedPercent is used against capacity, 0 for a filesystem of no size.
func (f Figures) UsedPercent() float64 {
	if f.CapacityBytes <= 0 {
		return 0
	}
	return 100 * float64(f.UsedBytes) / float64(f.CapacityBytes)
}
